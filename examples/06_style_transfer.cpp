// 06 — a minimal neural style transfer: load, stylize, save.
//
// nst::stylize runs the whole method of Gatys et al.: content targets (activations of the photo),
// style targets (Gram matrices of the painting), and an image optimised with L-BFGS until its
// activations match the first and its Gram matrices the second. The options struct holds
// neural-style's defaults; only the layers change here, because the shared weights stop at
// conv3_4 (relu4_2, the usual content layer, needs conv4_2).
//
//   06_style_transfer WEIGHTS CONTENT STYLE OUT.png [SIZE [ITERATIONS]]
//   e.g. 06_style_transfer ../shared/weights/vgg19-conv1_1-conv3_4.safetensors
//          ../shared/images/tubingen.jpg ../shared/images/starry_night.jpg out.png 256 100
//
// Exits with 77 (skipped) when the weights or the images are absent.
#include <nst/io/image.hpp>
#include <nst/style.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s WEIGHTS CONTENT STYLE OUT.png [SIZE [ITERATIONS]]\n", argv[0]);
    return 2;
  }
  for (int i = 1; i <= 3; ++i) {
    if (!std::ifstream(argv[i])) {
      std::printf("skipped: %s is absent\n", argv[i]);
      return 77;
    }
  }

  nst::keep_freed_memory();  // glibc keeps freed memory for the tensors that follow: fewer page faults
  const auto net = nst::vgg19<float>::from_file(argv[1]);  // reads the conv weights only
  const auto content = nst::load_image<float>(argv[2]);     // RGB [1,3,H,W] in [0,1]
  const auto style = nst::load_image<float>(argv[3]);

  nst::stylize_options options;
  options.image_size = argc > 5 ? std::atoi(argv[5]) : 256;  // longer side of the result
  options.iterations = argc > 6 ? std::atoi(argv[6]) : 100;
  options.content_layers = {"relu3_2"};
  options.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
  options.init = nst::init_method::content;  // start from the photo: a good image after few iterations

  // The observer sees every iteration: the total loss, each weighted term, the time it took.
  const auto result = nst::stylize(net, content, {style}, options, [](const nst::stylize_progress<float>& p) {
    if (p.iteration % 10 != 0 && p.iteration != p.iterations) return;
    std::printf("iteration %3d/%d  loss %.4g  (content %.3g, style %.3g, tv %.3g)  %.2f s\n", p.iteration,
                p.iterations, p.loss, p.parts.at("content"), p.parts.at("style"), p.parts.at("tv"), p.seconds);
  });

  nst::save_image(argv[4], result);
  std::printf("saved %s (%td x %td)\n", argv[4], result.dim(3), result.dim(2));
  return 0;
}
