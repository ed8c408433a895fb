// autograd.cpp — recording nodes and running the backward pass (see autograd.h).
#include "engine/autograd.h"

#include <atomic>
#include <unordered_map>
#include <unordered_set>

#include "engine/ops.h"

namespace vt {

static std::atomic<int64_t> g_saved_bytes{0};
static std::atomic<int64_t> g_nodes_run{0};
static thread_local bool g_grad_enabled = true;

int64_t saved_bytes() { return g_saved_bytes.load(); }
int64_t backward_nodes_run() { return g_nodes_run.load(); }

static thread_local GradReadyHook t_grad_ready;
void set_grad_ready_hook(GradReadyHook hook) { t_grad_ready = std::move(hook); }
bool grad_enabled() { return g_grad_enabled; }
NoGrad::NoGrad() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = prev_; }

void Node::release() {
  fn = nullptr;
  g_saved_bytes -= saved;
  saved = 0;
}
Node::~Node() { g_saved_bytes -= saved; }

// The node a gradient for tensor t flows into: its grad_fn, or its leaf accumulator.
static std::shared_ptr<Node> edge_of(const Tensor& t) {
  if (!t.defined()) return nullptr;
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return impl->grad_fn;
  if (!impl->requires_grad) return nullptr;
  if (!impl->accumulator) {
    auto acc = std::make_shared<Node>();
    acc->name = "accumulate_grad";
    acc->accumulates = true;
    acc->leaf = t.impl_ptr();
    impl->accumulator = acc;
  }
  return impl->accumulator;
}

GradCtx grad_ctx(const std::vector<Tensor>& inputs) {
  GradCtx ctx;
  ctx.edges.resize(inputs.size());
  ctx.shapes.resize(inputs.size());
  if (!g_grad_enabled) return ctx;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ctx.edges[i] = edge_of(inputs[i]);
    if (inputs[i].defined()) ctx.shapes[i] = inputs[i].shape();
    ctx.any = ctx.any || ctx.edges[i];
  }
  return ctx;
}
GradCtx grad_ctx(std::initializer_list<Tensor> inputs) {
  return grad_ctx(std::vector<Tensor>(inputs));
}

void record(Tensor& out, const char* name, const GradCtx& ctx, BackwardFn fn,
            std::initializer_list<Tensor> saved) {
  if (!ctx.any) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->next = ctx.edges;
  node->input_shapes = ctx.shapes;
  node->fn = std::move(fn);
  for (const Tensor& s : saved)
    if (s.defined()) node->saved += (int64_t)s.nbytes();
  g_saved_bytes += node->saved;
  out.impl()->grad_fn = std::move(node);
}

static void accumulate(Tensor& slot, const Tensor& g) {
  slot = slot.defined() ? add(slot, g) : g;
}

void run_backward(const Tensor& root, const Tensor& grad_output, bool retain_graph) {
  if (!root.requires_grad())
    throw Error("backward: tensor does not require grad (no parameter in its history needs one)");
  Tensor g0 = grad_output;
  if (!g0.defined()) {
    if (root.numel() != 1)
      throw Error("backward: grad_output must be given for a non-scalar of shape " +
                  shape_str(root.shape()));
    g0 = Tensor::ones(root.shape(), root.dtype(), root.device());
  } else if (g0.shape() != root.shape()) {
    throw Error("backward: grad_output shape " + shape_str(g0.shape()) + " != output shape " +
                shape_str(root.shape()));
  }
  NoGrad no_grad;
  std::shared_ptr<Node> start = edge_of(root);

  // Topological order (iterative DFS post-order), then run it backwards.
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{start.get(), 0}};
  seen.insert(start.get());
  while (!stack.empty()) {
    auto& [node, i] = stack.back();
    if (i < node->next.size()) {
      Node* child = node->next[i++].get();
      if (child && seen.insert(child).second) stack.push_back({child, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  std::unordered_map<Node*, Tensor> grads;
  grads[start.get()] = g0;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    auto found = grads.find(node);
    if (found == grads.end()) continue;  // no gradient reached this node
    Tensor g = std::move(found->second);
    grads.erase(found);
    ++g_nodes_run;
    if (node->accumulates) {
      auto leaf = node->leaf.lock();
      if (!leaf) continue;  // the parameter is gone: nobody to give the gradient to
      Tensor cur = leaf->grad;
      if (g.shape() != leaf->shape)
        throw Error("backward: gradient shape " + shape_str(g.shape()) +
                    " does not match leaf shape " + shape_str(leaf->shape));
      // Own the gradient buffer: never alias a tensor someone else may hold.
      leaf->grad = cur.defined() ? add(cur, g) : (g.is_contiguous() ? g.clone() : g.contiguous());
      if (t_grad_ready) t_grad_ready(Tensor(leaf));
      continue;
    }
    if (!node->fn)
      throw Error(std::string("backward: the graph through '") + node->name +
                  "' was already freed; pass retain_graph=true to backward twice");
    Grads gi = node->fn(g);
    if (!retain_graph) node->release();
    for (size_t i = 0; i < node->next.size() && i < gi.size(); ++i) {
      if (!node->next[i] || !gi[i].defined()) continue;
      if (gi[i].shape() != node->input_shapes[i])
        throw Error(std::string("backward of ") + node->name + ": gradient " +
                    std::to_string(i) + " has shape " + shape_str(gi[i].shape()) +
                    ", input had " + shape_str(node->input_shapes[i]));
      accumulate(grads[node->next[i].get()], gi[i]);
    }
  }
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int64_t lead = g.dim() - (int64_t)shape.size();
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < g.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(i);
  Tensor r = dims.empty() ? g : sum(g, dims, true);
  return r.reshape(shape);
}

}  // namespace vt
