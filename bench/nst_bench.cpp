// nst_bench — how fast nst runs VGG19 and one style-transfer iteration, and in how much memory.
//
// Cases (each at every size and thread count asked for):
//   convX_Y.forward     one VGG19 convolution (with bias) at the size it has inside the network
//                       for an SxS image (S >> (block - 1)), as vgg19::features runs it
//                       (conv3x3_same with --algorithm, kernel transformed before timing)
//   convX_Y.input_grad  the gradient of that convolution with respect to its input
//   vgg19.fwd_bwd       VGG19 on the tape up to relu5_1, backward of sum(relu5_1) to the image
//   style.iteration     what stylize's objective does once: VGG19 up to relu5_1 on the tape,
//                       content loss at relu4_2, style loss at relu1_1..relu5_1, TV loss,
//                       backward to the image (neural-style's weights 5, 100, 1e-3)
//   lbfgs.10_iterations L-BFGS's own work in ten iterations (history 100, full) on a [1,3,S,S]
//                       image: the two-loop recursions and the bookkeeping, with an objective
//                       that costs next to nothing (f = 1/2 sum a_i x_i^2; one minimize() call,
//                       eleven evaluations, as one step() of torch.optim.LBFGS with max_iter 10)
// The weights are random (Kaiming-uniform, so activations neither explode nor become denormal)
// with the full VGG19 shapes; values do not change the time.
//
// Every case runs in its own child process (fork), so its peak resident memory (VmHWM from
// /proc/self/status, read by the child at the end) is its own: the parent never computes
// anything. The child runs the case twice untimed (warm-up), then up to --reps times, stopping
// early once --budget seconds are spent, and reports the fastest run.
//
// Output: one JSON line per case as it finishes, then a table.
//
// Every case runs in a memory plan (nst/core/allocator.hpp), as stylize's evaluations do: from
// the second call on its tensors take their places in one arena, as PyTorch's caching allocator
// serves them; without that, every 64 MB activation of a 512 px image would be a fresh mmap whose
// pages fault in again on every call (measured: half the time of conv1_2 at 512 px on a VM).
//
// --ab compares convolution algorithms where the machine is shared and wall times are unreliable:
// each case's child builds it twice (im2col everywhere, and --algorithm, default auto) and runs
// the two alternately --reps times, printing per case the medians of wall and CPU time and the
// ratios new/im2col (one JSON line each, impl "nst-ab").
//
//   nst_bench [--sizes 256,512] [--threads 1,2] [--large] [--reps 3] [--budget 3]
//             [--cases layers,network,iteration,optimizer] [--filter TEXT] [--algorithm auto] [--ab]
//             [--keep-winograd|--transient-winograd]
#if defined(__linux__)
#endif
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nst/nst.hpp>

namespace {

using nst::index_t;
using nst::tensor;

struct options {
  std::vector<int> sizes = {256, 512};
  std::vector<int> threads = {1, 2};
  std::vector<std::string> groups = {"layers", "network", "iteration"};
  std::string filter;
  int reps = 3;
  double budget_seconds = 3.0;
  nst::conv_algorithm algorithm = nst::conv_algorithm::automatic;
  bool keep_winograd_weights = nst::vgg19_options{}.keep_winograd_weights;  // --keep-winograd / --transient-winograd
  bool ab = false;  // im2col against `algorithm` in one process (run_ab_case)
};

struct bench_case {
  std::string name;   // "conv3_1.forward", "vgg19.fwd_bwd", "style.iteration"
  int conv = -1;      // the convolution for the layer cases
  int size = 0;       // the image side S
  int threads = 1;
};

struct result {
  double seconds = 0;      // the fastest timed run
  double cpu_seconds = 0;  // the smallest process CPU time of the timed runs, all threads
  int runs = 0;        // timed runs
  double peak_rss_mb = 0;
};

// ---- random inputs and weights ----

struct random_source {
  std::uint64_t state;
  explicit random_source(std::uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
  double uniform() {  // splitmix64 -> [-1, 1)
    state += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) / 4503599627370496.0 - 1.0;
  }
};

tensor<float> random_tensor(const nst::shape& s, double scale, std::uint64_t seed) {
  tensor<float> t(s);
  random_source random(seed);
  for (float& v : t) v = static_cast<float>(scale * random.uniform());
  return t;
}

// Output and input channels of VGG19 convolution `conv` (0..15).
std::pair<index_t, index_t> conv_channels(int conv) {
  static const index_t widths[] = {64, 128, 256, 512, 512};
  const int block = nst::vgg19_layers()[nst::vgg19_conv_layer_index(conv)].block;
  const bool first_of_block = conv == 0 || nst::vgg19_layers()[nst::vgg19_conv_layer_index(conv - 1)].block != block;
  const index_t out = widths[block - 1];
  const index_t in = conv == 0 ? 3 : first_of_block ? widths[block - 2] : out;
  return {out, in};
}

int conv_block(int conv) { return nst::vgg19_layers()[nst::vgg19_conv_layer_index(conv)].block; }

// Kaiming-uniform weights (variance 2 / fan_in) and small biases for convolution `conv`.
tensor<float> random_weight(int conv) {
  const auto [out, in] = conv_channels(conv);
  return random_tensor({out, in, 3, 3}, std::sqrt(6.0 / static_cast<double>(in * 9)), 100 + conv);
}
tensor<float> random_bias(int conv) { return random_tensor({conv_channels(conv).first}, 0.01, 200 + conv); }

// A VGG19 with random weights for convolutions 0..conv_count-1, under torchvision's names.
nst::vgg19<float> random_vgg19(int conv_count, const nst::vgg19_options& options) {
  nst::weight_file<float> file;
  file.format = "random";
  const auto& layers = nst::vgg19_layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].kind != nst::vgg19_layer_kind::conv || layers[i].last_conv >= conv_count) continue;
    const std::string key = "features." + std::to_string(i);
    file.names.push_back(key + ".weight");
    file.tensors[key + ".weight"] = random_weight(layers[i].last_conv);
    file.names.push_back(key + ".bias");
    file.tensors[key + ".bias"] = random_bias(layers[i].last_conv);
  }
  return nst::vgg19<float>(std::move(file), options);
}

// ---- the cases ----

const std::vector<std::string> style_layers = {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};
const int convs_to_relu5_1 = 13;  // conv1_1 .. conv5_1

// Seconds of CPU time this process has used, all threads together: unlike wall time, barely
// inflated when other programs share the cores (what the --ab ratios also report).
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

template <class Run>
result time_runs(Run&& run, const options& o) {
  using clock = std::chrono::steady_clock;
  // Warm-up: the memory plan is made in the first call and its arena's pages touched in the
  // second (as in stylize's first two evaluations); first-touch page faults, Winograd weights.
  run();
  run();
  result r;
  r.seconds = std::numeric_limits<double>::infinity();
  std::vector<double> cpu;
  double spent = 0;
  for (int i = 0; i < o.reps && (i == 0 || spent < o.budget_seconds); ++i) {
    const auto start = clock::now();
    const double cpu_start = cpu_seconds();
    run();
    cpu.push_back(cpu_seconds() - cpu_start);
    const double seconds = std::chrono::duration<double>(clock::now() - start).count();
    r.seconds = std::min(r.seconds, seconds);
    spent += seconds;
    ++r.runs;
  }
  r.cpu_seconds = *std::min_element(cpu.begin(), cpu.end());  // the first runs can still grow the heap
  return r;
}

// lbfgs.10_iterations: a minimize() call of ten iterations resuming a state whose history is
// full, on a quadratic with curvatures a_i from 1e-6 to 1 (so ill-conditioned that it is far from
// converged after the 101 iterations that fill the history, and every pair keeps a positive
// curvature).
std::function<void()> lbfgs_iterations_case(int size) {
  struct optimizer_state {
    tensor<float> curvature, x;
    nst::lbfgs policy;
    nst::policy_state<nst::lbfgs, float> state;
  };
  auto s = std::make_shared<optimizer_state>();
  s->curvature = random_tensor({1, 3, size, size}, 1.0, 7);
  for (float& a : s->curvature) a = std::pow(10.0f, -6 * std::abs(a));
  s->x = random_tensor({1, 3, size, size}, 1.0, 8);
  s->policy.tolerance_grad = -1;
  s->policy.tolerance_change = -1;
  auto bowl = [s](const tensor<float>& x, tensor<float>& gradient) {
    gradient.vector() = s->curvature.vector().cwiseProduct(x.vector());
    return 0.5 * static_cast<double>(x.vector().dot(gradient.vector()));
  };
  nst::stop_criteria fill;
  fill.max_iterations = s->policy.history + 1;
  nst::minimize(bowl, s->x, s->policy, s->state, fill);
  if (s->state.steps.size() != static_cast<std::size_t>(s->policy.history))
    throw std::runtime_error("lbfgs.10_iterations: the history did not fill");
  return [s, bowl] {
    nst::stop_criteria ten;
    ten.max_iterations = 10;
    auto objective = bowl;
    nst::minimize(objective, s->x, s->policy, s->state, ten);
  };
}

// The case's inputs, built once; calling the returned function runs the case once.
std::function<void()> case_run(const bench_case& c, nst::conv_algorithm algorithm, bool keep_winograd_weights) {
  if (c.name == "lbfgs.10_iterations") return lbfgs_iterations_case(c.size);
  if (c.conv >= 0) {
    // One convolution as vgg19 runs it (conv3x3_same, kernel transformed before timing).
    const auto [out, in] = conv_channels(c.conv);
    const index_t side = c.size >> (conv_block(c.conv) - 1);
    struct layer_state {
      tensor<float> weight, bias, x, dy;
      nst::conv3x3_same<float> layer;
    };
    auto s = std::make_shared<layer_state>();
    s->weight = random_weight(c.conv);
    s->bias = random_bias(c.conv);
    s->layer = nst::conv3x3_same<float>(s->weight, s->bias, nst::padding_mode::zeros,
                                        nst::conv3x3_same<float>::transformed(s->weight, algorithm));
    if (c.name.find("input_grad") == std::string::npos) {
      s->x = random_tensor({1, in, side, side}, 1.0, 1);
      return [s] { s->layer.forward(s->x, false); };
    }
    s->dy = random_tensor({1, out, side, side}, 1.0, 2);
    return [s] { s->layer.backward_input(s->dy); };
  }
  nst::vgg19_options options;
  options.convolution = algorithm;
  options.keep_winograd_weights = keep_winograd_weights;
  if (c.name == "vgg19.fwd_bwd") {
    struct network_state {
      nst::vgg19<float> net;
      tensor<float> image, gradient;
      nst::tape<float> tp;
    };
    auto s = std::shared_ptr<network_state>(new network_state{random_vgg19(convs_to_relu5_1, options),
                                                              random_tensor({1, 3, c.size, c.size}, 1.0, 3),
                                                              tensor<float>({1, 3, c.size, c.size}), {}});
    return [s] {
      const nst::var<float> x = s->tp.variable(s->image);
      auto features = s->net.features(s->tp, x, {"relu5_1"});
      s->tp.backward(nst::ad::sum(features["relu5_1"]), nst::spent_values::release);
      s->gradient = x.grad();
      s->tp.clear();
    };
  }
  // The objective of nst::stylize (style/stylize.hpp), with random content and style images.
  struct iteration_state {
    explicit iteration_state(nst::vgg19<float> network) : net(std::move(network)) {}
    nst::vgg19<float> net;
    tensor<float> at, gradient;
    nst::tape<float> tp;
    nst::loss_breakdown parts;
  };
  auto s = std::make_shared<iteration_state>(random_vgg19(convs_to_relu5_1, options));
  nst::content_loss<float> content_term{5.0f, {"relu4_2"}};
  nst::style_loss<float> style_term{100.0f, style_layers};
  content_term.set_targets(s->net.features(random_tensor({1, 3, c.size, c.size}, 1.0, 4), {"relu4_2"}));
  style_term.set_targets({s->net.features(random_tensor({1, 3, c.size, c.size}, 1.0, 5), style_layers)});
  s->at = random_tensor({1, 3, c.size, c.size}, 1.0, 6);
  s->gradient = tensor<float>(s->at.shape());  // as minimize's: every call allocates the same tensors
  // Built once per run, as stylize does (the sum holds the terms and their targets by value).
  auto terms = std::make_shared<const decltype(content_term + style_term + nst::tv_loss<float>(1e-3f))>(
      std::move(content_term) + std::move(style_term) + nst::tv_loss<float>(1e-3f));
  return [s, terms] {
    const nst::var<float> image = s->tp.variable(s->at);
    const nst::feature_vars<float> features = s->net.features(s->tp, image, terms->layers());
    s->parts.clear();
    const nst::var<float> total = terms->evaluate(nst::loss_inputs<float>{image, features}, &s->parts);
    s->tp.backward(total, nst::spent_values::release);  // as stylize
    s->gradient = image.grad();
    s->tp.clear();
  };
}

// case_run in a memory plan, as stylize runs its evaluations (nst/core/allocator.hpp): from the
// second call on, the tensors a call allocates and frees take their places in the plan's arena.
std::function<void()> prepare_case(const bench_case& c, nst::conv_algorithm algorithm, bool keep_winograd_weights) {
  auto memory = std::make_shared<nst::memory_plan>();
  return [memory, run = case_run(c, algorithm, keep_winograd_weights)] {
    const nst::planned_memory scope(*memory);
    run();
  };
}

double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  return 0;
}

result run_case(const bench_case& c, const options& o) {
  nst::set_num_threads(c.threads);
  result r = time_runs(prepare_case(c, o.algorithm, o.keep_winograd_weights), o);
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

// --ab: the case with im2col everywhere (A) and with o.algorithm (B, default auto = Winograd
// where it pays) in the same process, alternating A B A B ... --reps times after two warm-ups
// each; prints the medians of wall and CPU time and the ratios B/A.
void run_ab_case(const bench_case& c, const options& o) {
  nst::set_num_threads(c.threads);
  const auto a = prepare_case(c, nst::conv_algorithm::im2col, true);
  const auto b = prepare_case(c, o.algorithm == nst::conv_algorithm::im2col ? nst::conv_algorithm::automatic
                                                                              : o.algorithm,
                              o.keep_winograd_weights);
  for (int warm_up = 0; warm_up < 2; ++warm_up) {
    a();
    b();
  }
  std::vector<double> wall[2], cpu[2];
  for (int i = 0; i < std::max(1, o.reps); ++i)
    for (int k = 0; k < 2; ++k) {
      const auto start = std::chrono::steady_clock::now();
      const double cpu_start = cpu_seconds();
      (k == 0 ? a : b)();
      cpu[k].push_back(cpu_seconds() - cpu_start);
      wall[k].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  std::printf(
      "{\"impl\": \"nst-ab\", \"case\": \"%s\", \"size\": %d, \"threads\": %d, \"runs\": %d, "
      "\"im2col_wall_s\": %.6f, \"new_wall_s\": %.6f, \"wall_ratio\": %.3f, "
      "\"im2col_cpu_s\": %.6f, \"new_cpu_s\": %.6f, \"cpu_ratio\": %.3f, \"peak_rss_mb_both\": %.1f}\n",
      c.name.c_str(), c.size, c.threads, static_cast<int>(wall[0].size()), median(wall[0]), median(wall[1]),
      median(wall[1]) / median(wall[0]), median(cpu[0]), median(cpu[1]), median(cpu[1]) / median(cpu[0]),
      peak_rss_mb());
}

// Runs the case in a child process and reads its result back through a pipe.
bool run_in_child(const bench_case& c, const options& o, result& r) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  std::cout.flush();
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    close(fds[0]);
    int status = 0;
    try {
      result child;
      if (o.ab) {
        run_ab_case(c, o);  // prints its own line
        std::fflush(stdout);
      } else {
        child = run_case(c, o);
      }
      std::ostringstream line;
      line.precision(9);
      line << child.seconds << ' ' << child.cpu_seconds << ' ' << child.runs << ' ' << child.peak_rss_mb << '\n';
      const std::string text = line.str();
      status = write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()) ? 0 : 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "nst_bench: %s (size %d): %s\n", c.name.c_str(), c.size, e.what());
      status = 1;
    }
    _exit(status);
  }
  close(fds[1]);
  std::string text;
  char buffer[256];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  std::istringstream in(text);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
         (in >> r.seconds >> r.cpu_seconds >> r.runs >> r.peak_rss_mb);
}

std::vector<bench_case> plan(const options& o) {
  const auto wanted = [&o](const std::string& group) {
    return std::find(o.groups.begin(), o.groups.end(), group) != o.groups.end();
  };
  std::vector<bench_case> cases;
  for (int size : o.sizes)
    for (int threads : o.threads) {
      if (wanted("layers"))
        for (int conv = 0; conv < convs_to_relu5_1; ++conv)
          for (const char* what : {".forward", ".input_grad"})  // conv1_1's too: the image is optimised
            cases.push_back({nst::vgg19_conv_names()[static_cast<std::size_t>(conv)] + what, conv, size, threads});
      if (wanted("network")) cases.push_back({"vgg19.fwd_bwd", -1, size, threads});
      if (wanted("iteration")) cases.push_back({"style.iteration", -1, size, threads});
      if (wanted("optimizer")) cases.push_back({"lbfgs.10_iterations", -1, size, threads});
    }
  if (!o.filter.empty())
    cases.erase(std::remove_if(cases.begin(), cases.end(),
                               [&o](const bench_case& c) { return c.name.find(o.filter) == std::string::npos; }),
                cases.end());
  return cases;
}

template <class T>
std::vector<T> parse_list(const std::string& text) {
  std::vector<T> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    std::istringstream value(item);
    T v{};
    value >> v;
    out.push_back(v);
  }
  return out;
}

[[noreturn]] void usage(int status) {
  std::cerr << "usage: nst_bench [--sizes 256,512] [--threads 1,2] [--large] [--reps 3] [--budget 3]\n"
               "                 [--cases layers,network,iteration,optimizer] [--filter TEXT]\n"
               "                 [--algorithm auto|im2col|winograd] [--keep-winograd|--transient-winograd] [--ab]\n"
               "  --keep-winograd / --transient-winograd: the network cases keep the Winograd weights from\n"
               "  first use on / transform them per call (vgg19_options::keep_winograd_weights; default per call);\n"
               "  --algorithm: how the 3x3 convolutions compute (default auto: Winograd from 16 channels);\n"
               "  --ab: per case, im2col against --algorithm in one process, alternating, --reps times each;\n"
               "  prints median wall and CPU times and their ratios (for loaded machines);\n"
               "  --large adds 1024 to the sizes; every case runs in its own process (peak RSS per case);\n"
               "  the time is the fastest of up to --reps runs after two warm-ups, fewer once --budget\n"
               "  seconds are spent; 'cpu ms' is the least process CPU time of those runs.\n";
  std::exit(status);
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(2);
      return argv[++i];
    };
    if (arg == "--sizes") {
      o.sizes = parse_list<int>(value());
    } else if (arg == "--threads") {
      o.threads = parse_list<int>(value());
    } else if (arg == "--large") {
      o.sizes.push_back(1024);
    } else if (arg == "--reps") {
      o.reps = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--budget") {
      o.budget_seconds = std::atof(value().c_str());
    } else if (arg == "--cases") {
      o.groups = parse_list<std::string>(value());
    } else if (arg == "--filter") {
      o.filter = value();
    } else if (arg == "--algorithm") {
      o.algorithm = nst::parse_conv_algorithm(value());
    } else if (arg == "--ab") {
      o.ab = true;
    } else if (arg == "--transient-winograd") {
      o.keep_winograd_weights = false;
    } else if (arg == "--keep-winograd") {
      o.keep_winograd_weights = true;
    } else if (arg == "--help" || arg == "-h") {
      usage(0);
    } else {
      std::cerr << "nst_bench: unknown argument '" << arg << "'\n";
      usage(2);
    }
  }
  for (int s : o.sizes)
    if (s < 16 || s > 4096) {
      std::cerr << "nst_bench: sizes must be in 16..4096 (VGG19 to relu5_1 pools 4 times), got " << s << "\n";
      std::exit(2);
    }
  for (int t : o.threads)
    if (t < 1) {
      std::cerr << "nst_bench: thread counts must be positive, got " << t << "\n";
      std::exit(2);
    }
  return o;
}


}  // namespace

int main(int argc, char** argv) {
  const options o = parse_options(argc, argv);
  std::vector<std::pair<bench_case, result>> done;
  bool all_ok = true;
  for (const bench_case& c : plan(o)) {
    result r;
    if (!run_in_child(c, o, r)) {
      std::cerr << "nst_bench: case " << c.name << " (size " << c.size << ", " << c.threads << " threads) failed\n";
      all_ok = false;
      continue;
    }
    if (o.ab) continue;
    std::printf(
        "{\"impl\": \"nst\", \"case\": \"%s\", \"size\": %d, \"threads\": %d, \"seconds\": %.6f, "
        "\"cpu_seconds\": %.6f, \"runs\": %d, \"peak_rss_mb\": %.1f}\n",
        c.name.c_str(), c.size, c.threads, r.seconds, r.cpu_seconds, r.runs, r.peak_rss_mb);
    std::fflush(stdout);
    done.emplace_back(c, r);
  }
  if (o.ab) return all_ok ? 0 : 1;
  std::printf("\n%-22s %6s %7s %12s %12s %6s %12s\n", "case", "size", "threads", "ms", "cpu ms", "runs",
              "peak RSS MB");
  for (const auto& [c, r] : done)
    std::printf("%-22s %6d %7d %12.2f %12.2f %6d %12.1f\n", c.name.c_str(), c.size, c.threads, r.seconds * 1e3,
                r.cpu_seconds * 1e3, r.runs, r.peak_rss_mb);
  return all_ok ? 0 : 1;
}
