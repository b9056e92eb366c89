// Model files at the C++ level: round trips of every model and dtype, the
// generic safetensors reader and writer, atomic writes, and corrupted,
// truncated and hand-crafted files, each of which must raise InvalidArgument
// or IOError, never crash or allocate what the header claims.
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "vaekit/io.hpp"

namespace vaekit::testing {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
  // Removed rather than truncated: ext4 flushes a file truncated to zero
  // (auto_da_alloc), which costs milliseconds per file in the loops below.
  std::error_code ignored;
  fs::remove(path, ignored);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A file from a header given as text, its length field, and raw data bytes.
Bytes crafted(const std::string& header, const Bytes& data = {}, std::uint64_t length = UINT64_MAX) {
  if (length == UINT64_MAX) length = header.size();
  Bytes bytes(8);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(length >> (8 * i));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

enum class Outcome { Loaded, InvalidArgument, IOError };

// Loads whatever the file holds; anything but a model, InvalidArgument or
// IOError (another exception type, a crash) fails the test.
Outcome try_load(const fs::path& path) {
  try {
    load_model(path);
    return Outcome::Loaded;
  } catch (const InvalidArgument&) {
    return Outcome::InvalidArgument;
  } catch (const IOError&) {
    return Outcome::IOError;
  }
}

// The message of the InvalidArgument that loading `path` raises ("" if none).
std::string load_error(const fs::path& path) {
  try {
    load_model(path);
  } catch (const InvalidArgument& error) {
    return error.what();
  }
  return "";
}

#define EXPECT_LOAD_ERROR(path, fragment)                                              \
  do {                                                                                 \
    const std::string message_ = load_error(path);                                     \
    EXPECT_NE(message_.find(fragment), std::string::npos) << "message: " << message_; \
  } while (0)

// ------------------------------------------------------------------ models

template <class T>
PPCA<T> fitted_ppca(PPCAMethod method) {
  PPCAOptions options;
  options.n_components = 2;
  options.method = method;
  options.max_iter = 20;
  return PPCA<T>::fit(random_normal<T>(60, 5, 1), options);
}

TrainingOptions short_training() {
  TrainingOptions options;
  options.batch_size = 16;
  options.max_iter = 2;
  options.seed = 5;
  options.n_threads = 1;
  return options;
}

template <class T>
VAE<T> fitted_vae(Likelihood likelihood, DecoderVariance variance) {
  VAEConfig config;
  config.n_features = 5;
  config.n_components = 2;
  config.hidden_layer_sizes = {6, 4};
  config.activation = Activation::Tanh;
  config.likelihood = likelihood;
  config.decoder_variance = variance;
  config.noise_variance = 0.3;
  config.beta = 0.9;
  VAE<T> model(config);
  model.fit(random_uniform<T>(40, 5, 2), short_training());
  return model;
}

template <class T>
Autoencoder<T> fitted_autoencoder(ReconstructionLoss loss) {
  AutoencoderConfig config;
  config.n_features = 5;
  config.n_components = 2;
  config.hidden_layer_sizes = {3};
  config.loss = loss;
  Autoencoder<T> model(config);
  model.fit(random_uniform<T>(40, 5, 3), short_training());
  return model;
}

template <class Model>
void expect_same_training_state(const Model& loaded, const Model& original) {
  EXPECT_EQ(loaded.parameters(), original.parameters());
  EXPECT_EQ(loaded.history().loss_curve, original.history().loss_curve);
  EXPECT_EQ(loaded.history().validation_scores, original.history().validation_scores);
  EXPECT_EQ(loaded.history().reconstruction_curve, original.history().reconstruction_curve);
  EXPECT_EQ(loaded.history().kl_curve, original.history().kl_curve);
  EXPECT_EQ(loaded.history().n_iter, original.history().n_iter);
  EXPECT_EQ(loaded.optimizer_state().first_moment, original.optimizer_state().first_moment);
  EXPECT_EQ(loaded.optimizer_state().second_moment, original.optimizer_state().second_moment);
  EXPECT_EQ(loaded.optimizer_state().step, original.optimizer_state().step);
  EXPECT_EQ(model_metadata(loaded), model_metadata(original));
}

template <class T>
class ModelFile : public ScratchDirectory {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ModelFile, Precisions);

TYPED_TEST(ModelFile, PPCARoundTrip) {
  using T = TypeParam;
  for (const PPCAMethod method : {PPCAMethod::ClosedForm, PPCAMethod::EM}) {
    const PPCA<T> original = fitted_ppca<T>(method);
    const fs::path path = this->file("ppca.safetensors");
    save(path, original, {{"note", "hello"}});
    ModelInfo info;
    const PPCA<T> loaded = load_ppca<T>(path, &info);
    EXPECT_EQ(info.kind, "PPCA");
    EXPECT_EQ(info.dtype, sizeof(T) == 4 ? "float32" : "float64");
    EXPECT_EQ(info.format_version, kModelFormatVersion);
    EXPECT_EQ(info.metadata.at("note"), "hello");
    EXPECT_EQ(loaded.components(), original.components());
    EXPECT_EQ(loaded.mean(), original.mean());
    EXPECT_EQ(loaded.noise_variance(), original.noise_variance());
    EXPECT_EQ(loaded.explained_variance(), original.explained_variance());
    EXPECT_EQ(loaded.n_iter(), original.n_iter());
    EXPECT_EQ(loaded.log_likelihood_curve(), original.log_likelihood_curve());
    const RowMatrix<T> X = random_normal<T>(7, 5, 9);
    EXPECT_EQ(loaded.transform(X), original.transform(X));
    EXPECT_EQ(loaded.score_samples(X), original.score_samples(X));
  }
}

TYPED_TEST(ModelFile, VAERoundTrip) {
  using T = TypeParam;
  const std::pair<Likelihood, DecoderVariance> variants[] = {
      {Likelihood::Gaussian, DecoderVariance::Fixed}, {Likelihood::Gaussian, DecoderVariance::Scalar},
      {Likelihood::Gaussian, DecoderVariance::Diagonal}, {Likelihood::Gaussian, DecoderVariance::Network},
      {Likelihood::Bernoulli, DecoderVariance::Fixed}};
  for (const auto& [likelihood, variance] : variants) {
    const VAE<T> original = fitted_vae<T>(likelihood, variance);
    const fs::path path = this->file("vae.safetensors");
    save(path, original);
    const VAE<T> loaded = load_vae<T>(path);
    expect_same_training_state(loaded, original);
    const RowMatrix<T> X = random_uniform<T>(6, 5, 8);
    const RowMatrix<T> Z = random_normal<T>(6, 2, 9);
    EXPECT_EQ(loaded.transform(X), original.transform(X));
    EXPECT_EQ(loaded.inverse_transform(Z), original.inverse_transform(Z));
    EXPECT_EQ(loaded.sample(4, 3, true), original.sample(4, 3, true));
    EXPECT_EQ(loaded.score_samples(X, 3, 11), original.score_samples(X, 3, 11));
  }
}

TYPED_TEST(ModelFile, AutoencoderRoundTrip) {
  using T = TypeParam;
  for (const ReconstructionLoss loss : {ReconstructionLoss::Mse, ReconstructionLoss::Bce}) {
    const Autoencoder<T> original = fitted_autoencoder<T>(loss);
    const fs::path path = this->file("autoencoder.safetensors");
    save(path, original);
    const Autoencoder<T> loaded = load_autoencoder<T>(path);
    expect_same_training_state(loaded, original);
    const RowMatrix<T> X = random_uniform<T>(6, 5, 8);
    EXPECT_EQ(loaded.transform(X), original.transform(X));
    EXPECT_EQ(loaded.score_samples(X), original.score_samples(X));
  }
}

TYPED_TEST(ModelFile, LoadModelKeepsTheSavedKindAndDtype) {
  using T = TypeParam;
  const fs::path path = this->file("model.safetensors");
  save(path, fitted_vae<T>(Likelihood::Gaussian, DecoderVariance::Diagonal));
  const LoadedModel loaded = load_model(path);
  EXPECT_EQ(loaded.info.kind, "VAE");
  EXPECT_TRUE(std::holds_alternative<VAE<T>>(loaded.model));
  save(path, fitted_autoencoder<T>(ReconstructionLoss::Mse));
  EXPECT_TRUE(std::holds_alternative<Autoencoder<T>>(load_model(path).model));
  save(path, fitted_ppca<T>(PPCAMethod::ClosedForm));
  EXPECT_TRUE(std::holds_alternative<PPCA<T>>(load_model(path).model));
  EXPECT_EQ(read_model_info(path).kind, "PPCA");
}

TYPED_TEST(ModelFile, AnUntrainedModelHasNoOptimizerState) {
  using T = TypeParam;
  VAEConfig config;
  config.n_features = 3;
  config.hidden_layer_sizes = {};
  VAE<T> model(config);
  model.initialize(1, random_normal<T>(4, 3, 1));
  const fs::path path = this->file("fresh.safetensors");
  save(path, model);
  EXPECT_EQ(read_model_info(path).metadata.count("optimizer_step"), 0u);
  const VAE<T> loaded = load_vae<T>(path);
  EXPECT_EQ(loaded.parameters(), model.parameters());
  EXPECT_EQ(loaded.optimizer_state().first_moment.size(), 0);
}

class ModelFileErrors : public ScratchDirectory {};

TEST_F(ModelFileErrors, AFloat64FileLoadsIntoFloat32) {
  const VAE<double> original = fitted_vae<double>(Likelihood::Gaussian, DecoderVariance::Scalar);
  save(file("vae.safetensors"), original);
  const VAE<float> loaded = load_vae<float>(file("vae.safetensors"));
  EXPECT_EQ(loaded.parameters(), original.parameters().cast<float>());
}

TEST_F(ModelFileErrors, AnotherKindIsRefused) {
  save(file("ppca.safetensors"), fitted_ppca<double>(PPCAMethod::ClosedForm));
  try {
    load_vae<double>(file("ppca.safetensors"));
    FAIL() << "no exception";
  } catch (const InvalidArgument& error) {
    EXPECT_NE(std::string(error.what()).find("kind \"PPCA\""), std::string::npos) << error.what();
  }
}

TEST_F(ModelFileErrors, ReservedMetadataKeysCannotBeGiven) {
  const PPCA<double> model = fitted_ppca<double>(PPCAMethod::ClosedForm);
  EXPECT_THROW(save(file("m.safetensors"), model, {{"kind", "VAE"}}), InvalidArgument);
  EXPECT_THROW(save(file("m.safetensors"), model, {{"n_features", "9"}}), InvalidArgument);
  EXPECT_FALSE(fs::exists(file("m.safetensors")));
}

TEST_F(ModelFileErrors, AnUnfittedPPCACannotBeSaved) {
  EXPECT_THROW(save(file("m.safetensors"), PPCA<double>()), InvalidArgument);
}

TEST_F(ModelFileErrors, MissingPathsAndDirectoriesAreIOErrors) {
  try {
    load_model(file("absent.safetensors"));
    FAIL() << "no exception";
  } catch (const IOError& error) {
    EXPECT_EQ(error.error_code(), ENOENT);
  }
  EXPECT_THROW(load_model(directory_), IOError);
  EXPECT_THROW(read_model_info(file("absent.safetensors")), IOError);
}

// ------------------------------------------------------------ safetensors

TEST_F(ModelFileErrors, SafetensorsRoundTripOfEveryDtype) {
  SafetensorsWriter writer;
  writer.set_metadata({{"a", "1"}, {"quote\"d", "x\ny"}});
  const float f[] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, std::numeric_limits<float>::denorm_min()};
  const double d[] = {std::acos(-1.0), -1e300};
  const std::int64_t i[] = {INT64_MIN, -1, 0, INT64_MAX};
  const double scalar = 42.0;
  writer.add("f", {2, 3}, f);
  writer.add("d", {2}, d);
  writer.add("i", {4}, i);
  writer.add("scalar", {}, &scalar);
  writer.add("empty", {0, 5}, static_cast<const float*>(nullptr));
  writer.write(file("t.safetensors"));

  const Bytes bytes = read_bytes(file("t.safetensors"));
  std::uint64_t header_length = 0;
  for (int b = 0; b < 8; ++b) header_length |= std::uint64_t(bytes[b]) << (8 * b);
  EXPECT_EQ(header_length % 8, 0u);  // the data starts 8-byte aligned
  SafetensorsReader reader(file("t.safetensors"));
  EXPECT_EQ(reader.metadata().at("quote\"d"), "x\ny");
  ASSERT_EQ(reader.tensors().size(), 5u);
  std::vector<float> f_read(6);
  reader.read(*reader.find("f"), f_read.data());
  EXPECT_EQ(std::memcmp(f_read.data(), f, sizeof(f)), 0);  // -0.0 and denormals bit for bit
  std::vector<double> d_read(2);
  reader.read(*reader.find("d"), d_read.data());
  EXPECT_EQ(d_read, std::vector<double>(d, d + 2));
  std::vector<std::int64_t> i_read(4);
  reader.read(*reader.find("i"), i_read.data());
  EXPECT_EQ(i_read, std::vector<std::int64_t>(i, i + 4));
  EXPECT_TRUE(reader.find("scalar")->shape.empty());
  EXPECT_EQ(reader.find("scalar")->n_elements(), 1);
  EXPECT_EQ(reader.find("empty")->n_elements(), 0);
  std::vector<double> f_as_double(6);
  reader.read(*reader.find("f"), f_as_double.data());  // converted on reading
  EXPECT_EQ(f_as_double[2], 3.25);
  EXPECT_THROW(reader.read(*reader.find("i"), f_read.data()), InvalidArgument);
  EXPECT_EQ(reader.find("absent"), nullptr);
}

TEST_F(ModelFileErrors, WriterRefusesBadTensors) {
  SafetensorsWriter writer;
  const float value = 1;
  writer.add("x", {1}, &value);
  EXPECT_THROW(writer.add("x", {1}, &value), InvalidArgument);
  EXPECT_THROW(writer.add("__metadata__", {1}, &value), InvalidArgument);
  EXPECT_THROW(writer.add("y", {-1}, &value), InvalidArgument);
}

// ------------------------------------------------------------ atomic writes

TEST_F(ModelFileErrors, SavingReplacesAnExistingFile) {
  const fs::path path = file("model.safetensors");
  write_bytes(path, Bytes(100, 'x'));
  save(path, fitted_ppca<float>(PPCAMethod::ClosedForm));
  EXPECT_EQ(read_model_info(path).kind, "PPCA");
  EXPECT_EQ(std::distance(fs::directory_iterator(directory_), fs::directory_iterator()), 1);  // no temporary left
}

TEST_F(ModelFileErrors, AFailedSaveLeavesNothingBehind) {
  const PPCA<float> model = fitted_ppca<float>(PPCAMethod::ClosedForm);
  // Into a directory that does not exist.
  try {
    save(file("absent") / "model.safetensors", model);
    FAIL() << "no exception";
  } catch (const IOError& error) {
    EXPECT_EQ(error.error_code(), ENOENT);
  }
  // Over a directory: the rename fails after the data was written.
  fs::create_directory(file("target"));
  write_bytes(file("target") / "keep", Bytes(3, 'k'));
  EXPECT_THROW(save(file("target"), model), IOError);
  EXPECT_TRUE(fs::is_directory(file("target")));
  EXPECT_EQ(read_bytes(file("target") / "keep"), Bytes(3, 'k'));
  EXPECT_EQ(std::distance(fs::directory_iterator(directory_), fs::directory_iterator()), 1);
}

// ------------------------------------------------------------ corrupted files

TEST_F(ModelFileErrors, EveryTruncationIsRefused) {
  const fs::path good = file("good.safetensors"), cut = file("cut.safetensors");
  save(good, fitted_vae<float>(Likelihood::Gaussian, DecoderVariance::Diagonal));
  const Bytes bytes = read_bytes(good);
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    write_bytes(cut, Bytes(bytes.begin(), bytes.begin() + length));
    EXPECT_EQ(try_load(cut), Outcome::InvalidArgument) << "truncated to " << length << " bytes";
  }
}

TEST_F(ModelFileErrors, FlippedBytesNeverCrash) {
  const fs::path good = file("good.safetensors"), bad = file("bad.safetensors");
  save(good, fitted_vae<float>(Likelihood::Gaussian, DecoderVariance::Scalar));
  const Bytes bytes = read_bytes(good);
  int refused = 0;
  for (std::size_t position = 0; position < bytes.size(); ++position) {
    Bytes flipped = bytes;
    flipped[position] ^= 0xA5;
    write_bytes(bad, flipped);
    // A flip in the tensor data may give a valid, different model; anything
    // else must be refused cleanly.
    const Outcome outcome = try_load(bad);
    EXPECT_NE(outcome, Outcome::IOError) << "byte " << position;
    refused += outcome == Outcome::InvalidArgument;
  }
  EXPECT_GT(refused, 0);
}

TEST_F(ModelFileErrors, RandomHeaderMutationsNeverCrash) {
  const fs::path good = file("good.safetensors"), bad = file("bad.safetensors");
  save(good, fitted_vae<double>(Likelihood::Gaussian, DecoderVariance::Network));
  const Bytes bytes = read_bytes(good);
  std::uint64_t header_end = 8;
  for (int i = 0; i < 8; ++i) header_end += std::uint64_t(bytes[i]) << (8 * i);
  int loaded = 0;
  for (std::uint64_t trial = 0; trial < 1000; ++trial) {
    Philox rng(trial, 99);
    Bytes mutated = bytes;
    // 1 to 4 bytes of the header set to a printable character, a digit or any byte.
    const int n_changes = 1 + static_cast<int>(rng.next_u32() % 4);
    for (int change = 0; change < n_changes; ++change) {
      const std::size_t position = 8 + rng.next_u32() % (header_end - 8);
      const std::uint32_t kind = rng.next_u32() % 3;
      mutated[position] = static_cast<unsigned char>(kind == 0   ? "0123456789"[rng.next_u32() % 10]
                                                     : kind == 1 ? "{}[],:\"\\ -"[rng.next_u32() % 11]
                                                                 : rng.next_u32());
    }
    write_bytes(bad, mutated);
    const Outcome outcome = try_load(bad);
    EXPECT_NE(outcome, Outcome::IOError) << "trial " << trial;
    loaded += outcome == Outcome::Loaded;
  }
  EXPECT_LT(loaded, 1000);
}

TEST_F(ModelFileErrors, RandomBytesAreRefused) {
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    Philox rng(seed);
    Bytes bytes(static_cast<std::size_t>(rng.next_u32() % 4096));
    for (unsigned char& byte : bytes) byte = static_cast<unsigned char>(rng.next_u32());
    if (seed % 2 && bytes.size() >= 8) {  // a plausible header length over random bytes
      const std::uint64_t length = rng.next_u32() % (bytes.size() - 7);
      for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(length >> (8 * i));
    }
    write_bytes(file("random"), bytes);
    EXPECT_EQ(try_load(file("random")), Outcome::InvalidArgument) << "seed " << seed;
  }
}

TEST_F(ModelFileErrors, HeaderLengthBeyondTheFileIsRefusedWithoutAllocating) {
  write_bytes(file("m"), crafted("{}", {}, std::uint64_t(1) << 62));
  EXPECT_LOAD_ERROR(file("m"), "header length 4611686018427387904 exceeds");
  write_bytes(file("m"), crafted("{}", {}, UINT64_MAX - 1));
  EXPECT_EQ(try_load(file("m")), Outcome::InvalidArgument);
}

TEST_F(ModelFileErrors, ShapesClaimingTerabytesAreRefused) {
  write_bytes(file("m"), crafted(R"({"w":{"dtype":"F64","shape":[1000000,1000000,1000000],"data_offsets":[0,8]}})",
                                 Bytes(8)));
  EXPECT_LOAD_ERROR(file("m"), "needs more bytes than");
  // Dimensions whose product overflows 64 bits.
  write_bytes(file("m"), crafted(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})"));
  EXPECT_LOAD_ERROR(file("m"), "needs more bytes than");
}

TEST_F(ModelFileErrors, BadOffsetsAreRefused) {
  const Bytes data(16);
  const auto header = [](const std::string& offsets_a, const std::string& offsets_b) {
    return R"({"a":{"dtype":"F32","shape":[2],"data_offsets":)" + offsets_a +
           R"(},"b":{"dtype":"F32","shape":[2],"data_offsets":)" + offsets_b + "}}";
  };
  write_bytes(file("m"), crafted(header("[0,8]", "[8,24]"), data));
  EXPECT_LOAD_ERROR(file("m"), "reach past");
  write_bytes(file("m"), crafted(header("[0,8]", "[4,12]"), data));
  EXPECT_LOAD_ERROR(file("m"), "overlap");
  write_bytes(file("m"), crafted(header("[0,8]", "[12,20]"), Bytes(20)));
  EXPECT_LOAD_ERROR(file("m"), "gap");
  write_bytes(file("m"), crafted(header("[0,8]", "[8,16]"), Bytes(24)));
  EXPECT_LOAD_ERROR(file("m"), "after the last tensor");
  write_bytes(file("m"), crafted(header("[0,8]", "[8,12]"), data));
  EXPECT_LOAD_ERROR(file("m"), "needs 8");
  write_bytes(file("m"), crafted(header("[0,8]", "[16,8]"), data));
  EXPECT_LOAD_ERROR(file("m"), "invalid data_offsets");
  write_bytes(file("m"), crafted(header("[0,8]", "[-8,0]"), data));
  EXPECT_LOAD_ERROR(file("m"), "invalid data_offsets");
}

TEST_F(ModelFileErrors, MalformedHeadersAreRefused) {
  const std::pair<std::string, std::string> cases[] = {
      {"[]", "not a JSON object"},
      {"  {}", "not a JSON object"},
      {"{\"__metadata__\":{\"kind\":1}}", "must be a string"},
      {"{\"__metadata__\":[]}", "__metadata__ must be an object"},
      {R"({"w":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}})", "dtype BF16 is not supported"},
      {R"({"w":{"dtype":"Q7","shape":[],"data_offsets":[0,2]}})", "unknown dtype"},
      {R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "negative dimension"},
      {R"({"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", "rank 9"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}})", "unknown field"},
      {R"({"w":{"dtype":"F32","shape":[1]}})", "no \"data_offsets\""},
      {R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "only integers"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{}})", "duplicate key"},
      {"{}", "not a vaekit model file"},
  };
  for (const auto& [header, fragment] : cases) {
    write_bytes(file("m"), crafted(header, header == "{}" ? Bytes() : Bytes(4)));
    EXPECT_LOAD_ERROR(file("m"), fragment);
  }
}

// Rewrites a valid PPCA file with changed metadata or tensors.
class PPCAFileEdits : public ScratchDirectory {
 protected:
  void SetUp() override {
    ScratchDirectory::SetUp();
    model_ = fitted_ppca<float>(PPCAMethod::ClosedForm);
    metadata_ = model_metadata(model_);
  }
  fs::path write(const Metadata& metadata, bool float64_mean = false, bool extra_tensor = false,
                 float noise_variance = 0.5f) {
    SafetensorsWriter writer;
    writer.set_metadata(metadata);
    writer.add("components", {model_.n_components(), model_.n_features()}, model_.components().data());
    if (float64_mean) {
      const Vector<double> mean = model_.mean().template cast<double>();
      writer.add("mean", {model_.n_features()}, mean.data());
    } else {
      writer.add("mean", {model_.n_features()}, model_.mean().data());
    }
    writer.add("noise_variance", {}, &noise_variance);
    writer.add("explained_variance", {model_.n_components()}, model_.explained_variance().data());
    if (extra_tensor) writer.add("surprise", {1}, &noise_variance);
    writer.write(file("edited.safetensors"));
    return file("edited.safetensors");
  }
  Metadata with(const std::string& key, const std::string& value) const {
    Metadata metadata = metadata_;
    metadata[key] = value;
    return metadata;
  }

  PPCA<float> model_;
  Metadata metadata_;
};

TEST_F(PPCAFileEdits, TheUneditedFileLoads) { EXPECT_EQ(try_load(write(metadata_)), Outcome::Loaded); }

TEST_F(PPCAFileEdits, UnknownKindsAndVersionsAreRefused) {
  EXPECT_LOAD_ERROR(write(with("kind", "GAN")), "unknown model kind \"GAN\"");
  EXPECT_LOAD_ERROR(write(with("format_version", "2")), "format version 2 is newer");
  EXPECT_LOAD_ERROR(write(with("format_version", "one")), "format_version");
  EXPECT_LOAD_ERROR(write(with("format_version", "0")), "format_version");
  EXPECT_LOAD_ERROR(write(with("dtype", "float16")), "float32 or float64");
  Metadata missing = metadata_;
  missing.erase("n_features");
  EXPECT_LOAD_ERROR(write(missing), "missing metadata entry \"n_features\"");
}

TEST_F(PPCAFileEdits, ShapesMustMatchTheMetadata) {
  EXPECT_LOAD_ERROR(write(with("n_features", "6")), "tensor \"components\" has shape (2, 5), expected (2, 6)");
  EXPECT_LOAD_ERROR(write(with("n_components", "3")), "expected (3, 5)");
  EXPECT_LOAD_ERROR(write(with("n_features", "99999999999999")), "n_features");
}

TEST_F(PPCAFileEdits, DtypesMustMatchTheMetadata) {
  EXPECT_LOAD_ERROR(write(metadata_, true), "tensor \"mean\" has dtype F64, expected F32");
  EXPECT_LOAD_ERROR(write(with("dtype", "float64")), "has dtype F32, expected F64");
}

TEST_F(PPCAFileEdits, UnexpectedTensorsAndBadValuesAreRefused) {
  EXPECT_LOAD_ERROR(write(metadata_, false, true), "unexpected tensor \"surprise\"");
  EXPECT_LOAD_ERROR(write(metadata_, false, false, -1.0f), "noise_variance must be positive");
  EXPECT_LOAD_ERROR(write(metadata_, false, false, std::nanf("")), "NaN or infinity");
}

TEST_F(ModelFileErrors, NeuralMetadataIsValidated) {
  const VAE<float> model = fitted_vae<float>(Likelihood::Gaussian, DecoderVariance::Fixed);
  save(file("vae.safetensors"), model);
  const auto rewrite = [&](const std::string& key, const std::string& value) {
    SafetensorsReader reader(file("vae.safetensors"));
    SafetensorsWriter writer;
    Metadata metadata = reader.metadata();
    metadata[key] = value;
    writer.set_metadata(metadata);
    const auto copy = [&](const TensorInfo& tensor, auto zero) {
      std::vector<decltype(zero)> values(static_cast<std::size_t>(tensor.n_elements()));
      reader.read(tensor, values.data());
      writer.add(tensor.name, tensor.shape, values.data());
    };
    for (const TensorInfo& tensor : reader.tensors()) {
      if (tensor.dtype == DType::F32) copy(tensor, 0.0f);
      else copy(tensor, 0.0);
    }
    writer.write(file("edited.safetensors"));
    return file("edited.safetensors");
  };
  EXPECT_EQ(try_load(rewrite("note", "fine")), Outcome::Loaded);
  // {entry, new value, part of the expected message}
  const std::string cases[][3] = {
      {"hidden_layer_sizes", "[6]", "tensor \"decoder.0.weight\" has shape (4, 2)"},
      {"hidden_layer_sizes", "[6, 4, 0]", "hidden_layer_sizes"},
      {"hidden_layer_sizes", "6,4", "hidden_layer_sizes"},
      {"activation", "swish", "activation"},
      {"likelihood", "poisson", "likelihood"},
      {"decoder_variance", "scalar", "missing tensor \"decoder.log_variance\""},
      {"decoder_variance", "network", "expected (10, 6)"},
      {"noise_variance", "nan", "noise_variance"},
      {"noise_variance", "-1", "noise_variance"},
      {"beta", "1,5", "beta"},
      {"n_mc_samples", "0", "n_mc_samples"},
      {"optimizer_step", "-3", "optimizer_step"},
      {"n_iter", "+2", "n_iter"},
  };
  for (const auto& [key, value, fragment] : cases) EXPECT_LOAD_ERROR(rewrite(key, value), fragment);
}

}  // namespace
}  // namespace vaekit::testing
