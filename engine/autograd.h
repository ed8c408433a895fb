// autograd.h — reverse-mode autodiff on a dynamic tape, micrograd-plain.
//
// Every op that has an input needing a gradient records one Node on its output:
//
//   Tensor y = ...forward...;                          // computed through the backend
//   if (auto ctx = grad_ctx({x, w, b})) {               // which inputs need a gradient?
//     Tensor xs = ctx[1] ? x : Tensor();                // save x only if dW is needed
//     record(y, "linear", ctx, [=](const Tensor& gy) -> Grads { ... }, {xs, w});
//   }
//
// The lambda's captures are the node's saved tensors; the last argument lists them so the
// engine can count their bytes (saved_bytes()). This is how frozen-awareness is observable:
// a Linear whose weight is frozen saves W (for dX) but not X.
//
// backward() walks the nodes in reverse topological order, summing gradients per node, and
// adds leaf gradients into Tensor::grad(). Unless retain_graph, each node's closure is dropped
// as soon as it has run, so saved activations are freed during the backward pass.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "engine/tensor.h"

namespace vt {

using Grads = std::vector<Tensor>;  // one per input; undefined = no gradient
using BackwardFn = std::function<Grads(const Tensor& grad_output)>;

struct Node {
  const char* name = "";
  std::vector<std::shared_ptr<Node>> next;  // per input: its grad node, or null
  std::vector<Shape> input_shapes;          // to check what backward returns
  BackwardFn fn;                            // empty once released
  bool accumulates = false;                 // the accumulate-grad node of a leaf
  std::weak_ptr<TensorImpl> leaf;           // that leaf (weak: the graph keeps no parameter alive)
  int64_t saved = 0;                        // bytes held by the closure's saved tensors
  void release();
  ~Node();
};

// Which inputs need a gradient (false everywhere under NoGrad).
struct GradCtx {
  std::vector<std::shared_ptr<Node>> edges;  // per input: where its gradient goes
  std::vector<Shape> shapes;
  bool any = false;
  bool operator[](size_t i) const { return edges[i] != nullptr; }
  explicit operator bool() const { return any; }
};
GradCtx grad_ctx(std::initializer_list<Tensor> inputs);
GradCtx grad_ctx(const std::vector<Tensor>& inputs);

// Attach a backward node to `out`. `saved` lists the tensors the closure captured, for
// the saved-bytes count (undefined entries are skipped).
void record(Tensor& out, const char* name, const GradCtx& ctx, BackwardFn fn,
            std::initializer_list<Tensor> saved = {});

void run_backward(const Tensor& root, const Tensor& grad_output, bool retain_graph);

// Called on the backward's thread as soon as a leaf's gradient of this pass is complete (a
// leaf's accumulator runs once per pass, after every contribution): data-parallel gradient
// buckets start their all-reduce there (engine/dist.h). One hook per thread; empty: none.
using GradReadyHook = std::function<void(const Tensor& leaf)>;
void set_grad_ready_hook(GradReadyHook hook);

// Bytes currently held by saved tensors of live graph nodes (all threads).
int64_t saved_bytes();
// Number of nodes whose backward has run since start (a test hook).
int64_t backward_nodes_run();

bool grad_enabled();
struct NoGrad {  // RAII: no graph is recorded inside its scope
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool prev_;
};

// Sum a broadcast gradient back down to `shape` (reverse of broadcasting).
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace vt
