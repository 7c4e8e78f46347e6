// 03 — reverse-mode autodiff on a tiny network.
//
// An nst::tape records tensor ops as they run; tape.backward(loss) then walks the record from
// the newest op to the oldest and leaves d loss / d v in v.grad() for every variable v. Leaves
// enter the tape as
//   variable(t)   we want its gradient (here: the weights we train),
//   constant(t)   copied, no gradient (here: the input and the target),
//   reference(t)  not copied, no gradient (VGG19's frozen weights in style transfer).
// Here a small "student" network  conv 3x3 -> relu -> avg-pool -> conv 3x3  learns, by plain
// gradient descent, to reproduce the output of a "teacher" with the same shape and other
// weights. (Style transfer does the opposite: weights frozen, the image is the variable.)
//
//   build/bin/examples/03_autodiff_tiny_network
#include <nst/autodiff.hpp>

#include <cstdio>
#include <random>

nst::tensor<float> random_tensor(const nst::shape& s, unsigned seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  nst::tensor<float> t(s);
  for (float& v : t) v = normal(rng);
  return t;
}

struct network {
  nst::tensor<float> w1, b1, w2, b2;  // [4,1,3,3], [4], [1,4,3,3], [1]
};

network random_network(unsigned seed) {
  return {random_tensor({4, 1, 3, 3}, seed, 0.5f), random_tensor({4}, seed + 1, 0.1f),
          random_tensor({1, 4, 3, 3}, seed + 2, 0.5f), random_tensor({1}, seed + 3, 0.1f)};
}

// The forward pass, recorded on the tape: [N,1,8,8] -> [N,1,4,4].
nst::var<float> forward(const nst::var<float>& x, const nst::var<float> (&p)[4]) {
  const nst::conv2d_params same{1, 1};  // stride 1, padding 1
  const auto hidden = nst::ad::avg_pool2d(nst::ad::relu(nst::ad::conv2d(x, p[0], p[1], same)));  // [N,4,4,4]
  return nst::ad::conv2d(hidden, p[2], p[3], same);
}

int main() {
  const nst::tensor<float> inputs = random_tensor({8, 1, 8, 8}, 1, 1.0f);  // a batch of 8 images

  // The targets: what the teacher computes (a tape with constants only records no backward steps).
  const network teacher = random_network(10);
  nst::tensor<float> targets;
  {
    nst::tape<float> tp;
    const nst::var<float> p[4] = {tp.constant(teacher.w1), tp.constant(teacher.b1), tp.constant(teacher.w2),
                                  tp.constant(teacher.b2)};
    targets = forward(tp.constant(inputs), p).value();
  }

  network student = random_network(20);
  nst::tape<float> tp;
  const float learning_rate = 0.2f;
  float first = 0, last = 0;
  // Every step makes the same tensors; a memory plan learns them in the first step and serves
  // them from one arena in every later one (nst/core/allocator.hpp), as stylize's evaluations.
  nst::memory_plan memory;
  for (int step = 0; step <= 200; ++step) {
    const nst::planned_memory scope(memory);
    const nst::var<float> p[4] = {tp.variable(student.w1), tp.variable(student.b1), tp.variable(student.w2),
                                  tp.variable(student.b2)};
    const nst::var<float> loss = nst::ad::mse(forward(tp.constant(inputs), p), tp.constant(targets));
    tp.backward(loss);  // p[i].grad() = d loss / d p[i]

    last = loss.value()[0];
    if (step == 0) {
      first = last;
      std::printf("the tape holds %zu nodes; d loss/d w1 has shape %s\n", tp.size(), p[0].grad().shape().str().c_str());
    }
    if (step % 40 == 0) std::printf("step %3d  loss %.6f\n", step, last);

    // Gradient descent: w <- w - learning_rate * dL/dw, with Eigen on the tensors' memory.
    nst::tensor<float>* weights[4] = {&student.w1, &student.b1, &student.w2, &student.b2};
    for (int i = 0; i < 4; ++i) weights[i]->vector() -= learning_rate * p[i].grad().vector();
    tp.clear();  // a fresh record for the next step; this step's tensors end inside its scope
  }
  std::printf("loss fell from %.6f to %.6f\n", first, last);
  std::printf("each step after the first took its %zu tensors from one arena of %zu KB (%zu from elsewhere)\n",
              memory.planned_tensors(), memory.arena_bytes() / 1024, memory.last_scope_misses());
  return last < 0.5f * first && memory.last_scope_misses() == 0 ? 0 : 1;
}
