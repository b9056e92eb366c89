// Progress output of the neural models' training, for the TrainingOptions
// callbacks of register_neural.cpp: verbose=1 prints one line per epoch,
// verbose=2 also redraws a bar over the batches of long epochs. Everything
// goes through Python's print (sys.stdout), so Jupyter shows it too.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "pybind11.hpp"
#include "vaekit/optim.hpp"

namespace vaekit::python {

// One progress line: "Epoch 3/200, loss = ..., validation score = ..., 0.012 s,
// elapsed 0.04 s, ETA 2.41 s". `epochs_done` counts this call's epochs; the ETA
// assumes the remaining epochs (up to max_iter) take the mean time so far.
inline std::string epoch_line(const EpochReport& report, int epochs_done, int max_iter, double elapsed,
                              bool single_epoch) {
  char buffer[256];
  std::string line = "Epoch " + std::to_string(report.epoch);
  if (!single_epoch) line += "/" + std::to_string(report.epoch - epochs_done + max_iter);
  std::snprintf(buffer, sizeof buffer, ", loss = %.6g", report.loss);
  line += buffer;
  if (report.has_validation) {
    std::snprintf(buffer, sizeof buffer, ", validation score = %.6g", report.validation_score);
    line += buffer;
  }
  std::snprintf(buffer, sizeof buffer, ", %.3f s, elapsed %.2f s", report.seconds, elapsed);
  line += buffer;
  if (!single_epoch) {
    std::snprintf(buffer, sizeof buffer, ", ETA %.2f s", elapsed / epochs_done * (max_iter - epochs_done));
    line += buffer;
  }
  return line;
}

// Appends n with thousands separators ("60,000") to `out`.
inline void append_count(std::string& out, long long n) {
  const std::string digits = std::to_string(n);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
}

// The bar of the epoch in progress: "Epoch 3/50 [#########.................]
// 4,352/60,000 samples, 1.2 s, ETA 3.1 s". `total_epochs` is 0 for partial_fit
// (no "/50"); the ETA is the time left in this epoch at the rate so far.
inline void format_batch_bar(std::string& out, const BatchReport& report, int total_epochs, double epoch_seconds) {
  constexpr int kWidth = 30;
  char buffer[64];
  out += "Epoch " + std::to_string(report.epoch);
  if (total_epochs > 0) out += "/" + std::to_string(total_epochs);
  const double fraction = static_cast<double>(report.samples_done) / static_cast<double>(report.n_samples);
  const int filled = std::min(kWidth, static_cast<int>(fraction * kWidth));
  out += " [";
  out.append(static_cast<std::size_t>(filled), '#');
  out.append(static_cast<std::size_t>(kWidth - filled), '.');
  out += "] ";
  append_count(out, report.samples_done);
  out += '/';
  append_count(out, report.n_samples);
  std::snprintf(buffer, sizeof buffer, " samples, %.1f s, ETA %.1f s", epoch_seconds,
                epoch_seconds / fraction * (1 - fraction));
  out += buffer;
}

// The training callbacks' state. Runs with the GIL released and takes it only
// to print or to look for Ctrl-C (ThrottledSignalCheck: every 50 ms at most).
// - Epoch lines are collected and printed at most every 200 ms and at the
//   end, so that fast epochs do not wait for the GIL.
// - verbose >= 2: once an epoch has run for `bar_delay` seconds, a bar over its
//   batches is drawn and redrawn in place ('\r') at most every 200 ms; the
//   epoch's line then overwrites it. Per batch this costs one clock read and a
//   few comparisons; text is built (into buffers reserved once) only to print.
class TrainingProgress {
 public:
  using Clock = std::chrono::steady_clock;

  TrainingProgress(int verbose, int max_iter, bool single_epoch, double bar_delay)
      : verbose_(verbose), max_iter_(max_iter), single_epoch_(single_epoch),
        bar_delay_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(bar_delay))) {
    pending_.reserve(1024);
    text_.reserve(1024);
  }

  // After every batch; false once Ctrl-C (or an error while printing) left a
  // Python exception pending.
  bool on_batch(const BatchReport& report) {
    const Clock::time_point now = Clock::now();
    if (verbose_ >= 2 && report.samples_done < report.n_samples && now - epoch_start_ >= bar_delay_ &&
        now - last_bar_ >= kMinInterval) {
      return draw_bar(report, now);
    }
    return keep_going_(now);
  }

  // After every complete epoch; false as on_batch.
  bool on_epoch(const EpochReport& report) {
    ++epochs_done_;
    const Clock::time_point now = Clock::now();
    epoch_start_ = now;
    if (verbose_ < 1) return keep_going_(now);
    if (bar_width_ > 0) {  // overwrite the bar (blanks, then the line), now rather than later
      pending_.assign("\r");
      pending_.append(bar_width_, ' ');
      pending_ += '\r';
      bar_width_ = 0;
      last_print_ = Clock::time_point();
    } else if (!pending_.empty()) {
      pending_ += '\n';
    }
    pending_ += epoch_line(report, epochs_done_, max_iter_, std::chrono::duration<double>(now - start_).count(),
                           single_epoch_);
    if (now - last_print_ < kMinInterval) return keep_going_(now);
    last_print_ = now;
    const bool ok = report_and_check_signals(pending_);
    pending_.clear();
    return ok;
  }

  // With the GIL held, once training has returned or thrown: prints the lines
  // not printed yet, or ends the line of a bar left drawn.
  void finish() {
    if (!pending_.empty()) py::print(pending_ + "\n", py::arg("end") = "", py::arg("flush") = true);  // one write
    else if (bar_width_ > 0) py::print(py::arg("flush") = true);
    pending_.clear();
    bar_width_ = 0;
  }

 private:
  static constexpr std::chrono::milliseconds kMinInterval{200};

  bool draw_bar(const BatchReport& report, Clock::time_point now) {
    text_.clear();
    if (!pending_.empty()) {  // earlier epochs' lines first, on lines of their own
      text_ += pending_;
      text_ += '\n';
      pending_.clear();
    }
    text_ += '\r';
    const std::size_t bar_start = text_.size();
    format_batch_bar(text_, report, single_epoch_ ? 0 : report.epoch - epochs_done_ - 1 + max_iter_,
                     std::chrono::duration<double>(now - epoch_start_).count());
    const std::size_t width = text_.size() - bar_start;
    if (width < bar_width_) text_.append(bar_width_ - width, ' ');  // blank the rest of a longer bar
    bar_width_ = std::max(bar_width_, width);
    last_bar_ = last_print_ = now;
    return report_and_check_signals(text_, "");
  }

  int verbose_, max_iter_;
  bool single_epoch_;
  Clock::duration bar_delay_;
  int epochs_done_ = 0;  // in this call
  const Clock::time_point start_ = Clock::now();
  Clock::time_point epoch_start_ = start_;
  Clock::time_point last_print_ = start_;  // of epoch lines or a bar
  Clock::time_point last_bar_;             // the epoch of the clock: the first bar may come at once
  std::size_t bar_width_ = 0;              // characters of the bar on screen; 0: no bar
  std::string pending_;                    // epoch lines not printed yet
  std::string text_;                       // the bar being printed
  ThrottledSignalCheck keep_going_;
};

}  // namespace vaekit::python
