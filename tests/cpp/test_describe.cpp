// describe.hpp: enumeration names both ways, field ranges, and the model
// files' metadata, which holds one entry per described field.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "vaekit/describe.hpp"
#include "vaekit/io.hpp"

namespace vaekit::testing {
namespace {

// The message of the InvalidArgument that body() throws ("" if none).
template <class Body>
std::string error_of(Body&& body) {
  try {
    body();
  } catch (const InvalidArgument& error) {
    return error.what();
  }
  return "";
}

#define EXPECT_ERROR_CONTAINS(statement, text) \
  EXPECT_NE(error_of([&] { statement; }).find(text), std::string::npos) << error_of([&] { statement; })

template <class E>
void expect_names_round_trip() {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < EnumNames<E>::names.size(); ++i) {
    const E value = static_cast<E>(i);
    const std::string name = enum_name(value);
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
    EXPECT_EQ(parse_enum<E>(name), value);
  }
  try {
    parse_enum<E>("no such value");
    ADD_FAILURE() << "an unknown name was accepted";
  } catch (const InvalidArgument& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(EnumNames<E>::what), std::string::npos) << message;
    for (const char* name : EnumNames<E>::names) EXPECT_NE(message.find(name), std::string::npos) << message;
  }
}

TEST(Describe, EveryEnumerationNameReadsBackItsValue) {
  expect_names_round_trip<Activation>();
  expect_names_round_trip<Likelihood>();
  expect_names_round_trip<DecoderVariance>();
  expect_names_round_trip<ReconstructionLoss>();
  expect_names_round_trip<PPCAMethod>();
  EXPECT_EQ(parse_enum<Activation>("logistic"), Activation::Sigmoid);  // scikit-learn's alias
  EXPECT_STREQ(enum_name(Likelihood::Bernoulli), "bernoulli");
}

TEST(Describe, RangesAcceptTheirBoundsAndNameWhatTheyReject) {
  EXPECT_TRUE(Range::at_least(1).contains(1));
  EXPECT_FALSE(Range::at_least(1).contains(0.5));
  EXPECT_FALSE(Range::positive().contains(0));
  EXPECT_TRUE(Range::positive().contains(1e-300));
  EXPECT_FALSE(Range::open(0, 1).contains(1));
  EXPECT_FALSE(Range::any().contains(std::nan("")));
  EXPECT_EQ(Range::at_least(1).text(), "at least 1");
  EXPECT_EQ(Range::positive().text(), "positive");
  EXPECT_EQ(Range::open(0, 1).text(), "in (0, 1)");

  VAEConfig config;
  config.beta = -0.5;
  EXPECT_ERROR_CONTAINS(validate_fields(config, "VAE"), "VAE: beta must be finite and at least 0, got -0.5");
  config = VAEConfig();
  config.hidden_layer_sizes = {4, 0};
  EXPECT_ERROR_CONTAINS(validate_fields(config, "VAE"), "hidden_layer_sizes must be at least 1");
  TrainingOptions options;
  options.validation_fraction = 1.0;
  EXPECT_ERROR_CONTAINS(validate_fields(options, "training"), "validation_fraction");
  EXPECT_NO_THROW(validate_fields(VAEConfig(), "VAE"));
  EXPECT_NO_THROW(validate_fields(TrainingOptions(), "training"));
  EXPECT_NO_THROW(validate_fields(PPCAOptions(), "PPCA"));
}

// The names visit() gives for a configuration.
template <class Config>
std::vector<std::string> field_names() {
  std::vector<std::string> names;
  Config config;
  Config::fields(config, [&](const char* name, auto&, const Range&) { names.emplace_back(name); });
  return names;
}

class DescribeFiles : public ScratchDirectory {};

TEST_F(DescribeFiles, ModelFilesHoldEveryDescribedFieldAndReadItBack) {
  VAEConfig config;
  config.n_features = 3;
  config.n_components = 2;
  config.hidden_layer_sizes = {5, 4};
  config.activation = Activation::Tanh;
  config.decoder_variance = DecoderVariance::Diagonal;
  config.noise_variance = 0.25;
  config.beta = 0.1;
  config.n_mc_samples = 3;
  VAE<double> model(config);
  model.initialize(1, random_normal<double>(4, 3, 1));
  const Metadata metadata = model_metadata(model);
  for (const std::string& name : field_names<VAEConfig>()) EXPECT_EQ(metadata.count(name), 1u) << name;
  EXPECT_EQ(metadata.at("decoder_variance"), "diagonal");
  EXPECT_EQ(metadata.at("hidden_layer_sizes"), "[5,4]");

  const auto path = file("vae.safetensors");
  save(path, model);
  const VAEConfig loaded = load_vae<double>(path).config();
  EXPECT_EQ(loaded.hidden_layer_sizes, config.hidden_layer_sizes);
  EXPECT_EQ(loaded.activation, config.activation);
  EXPECT_EQ(loaded.decoder_variance, config.decoder_variance);
  EXPECT_EQ(loaded.noise_variance, config.noise_variance);
  EXPECT_EQ(loaded.beta, config.beta);
  EXPECT_EQ(loaded.n_mc_samples, config.n_mc_samples);
  EXPECT_EQ(model_kinds(), (std::vector<std::string>{"PPCA", "Autoencoder", "VAE"}));
}

TEST_F(DescribeFiles, AFieldMissingFromAFileTakesItsDefault) {
  VAEConfig config;
  config.n_features = 3;
  config.hidden_layer_sizes = {4};
  config.beta = 1.0;  // the default: a file without the entry means the same model
  VAE<float> model(config);
  model.initialize(2, random_normal<float>(4, 3, 2));
  Metadata metadata = model_metadata(model);
  ASSERT_EQ(metadata.erase("beta"), 1u);
  SafetensorsWriter writer;
  writer.set_metadata(metadata);
  const auto path = file("vae.safetensors");
  save(path, model);
  // Rewrite the file with the entry removed, the tensors unchanged.
  SafetensorsReader reader(path);
  for (const TensorInfo& tensor : reader.tensors()) {
    std::vector<double> values(static_cast<std::size_t>(tensor.n_elements()));
    reader.read(tensor, values.data());
    if (tensor.dtype == DType::F32) {
      std::vector<float> narrow(values.begin(), values.end());
      writer.add(tensor.name, tensor.shape, narrow.data());
    } else {
      writer.add(tensor.name, tensor.shape, values.data());
    }
  }
  const auto stripped = file("stripped.safetensors");
  writer.write(stripped);
  const VAE<float> loaded = load_vae<float>(stripped);
  EXPECT_EQ(loaded.config().beta, 1.0);
  EXPECT_EQ(loaded.parameters(), model.parameters());
}

}  // namespace
}  // namespace vaekit::testing
