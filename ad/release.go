package ad

// Release hands the buffers of every tensor computed in the graphs of ys
// back to ad for reuse by later operations, and empties those tensors:
// their Data becomes nil, so a later use of one fails loudly instead of
// reading another step's numbers.
//
// A training loop calls it once per step, after the gradients have been
// taken (they are not part of the graph and stay valid) and every value it
// wants from the step has been read:
//
//	loss := ad.Neg(ad.Mean(bound))
//	g := ad.Grad(loss, params...)
//	fmt.Println(loss.Item())
//	ad.Release(loss)
//	opt.Step(params, g)
//	ad.Free(g...) // the gradients too, once used
//
// Without it the garbage collector reclaims the same memory, later: a
// training step of the paper's models allocates a few hundred kilobytes to
// a megabyte and a half of intermediate values, and collecting that every
// second or third step costs about a quarter of the step (docs/ad.md has
// the measurements).
//
// What is released: the outputs of recorded operations reachable from ys,
// including the recorded gradients of GradGraph. What is kept: leaves
// (parameters, tensors marked with RequireGrad), whose buffers a recorded
// output can share (a Reshape of a parameter), and constants (tensors
// made with New, Zeros and the like, which may be the caller's memory):
// those are never outputs of recorded operations, and the only operations
// that share buffers (Reshape, Detach) record nothing for a constant. The caller must not hold on to a computed tensor of the
// graph, nor a Detach or Reshape of one, nor reuse one in a later graph
// (computing a tensor once and feeding it to many steps): all of those
// are released with it.
func Release(ys ...*Tensor) {
	var nodes []*node
	seen := map[*node]bool{}
	for _, y := range ys {
		if y.node != nil && !seen[y.node] {
			seen[y.node] = true
			nodes = append(nodes, y.node)
		}
	}
	// skip holds the buffers not to free: the leaves', and those freed
	// already (a Reshape shares its input's).
	skip := map[*float64]bool{}
	for i := 0; i < len(nodes); i++ {
		n := nodes[i]
		if n.back == nil {
			skip[bufKey(n.out)] = true
		}
		for _, in := range n.inputs {
			if in.node != nil && !seen[in.node] {
				seen[in.node] = true
				nodes = append(nodes, in.node)
			}
		}
	}
	for _, n := range nodes {
		if n.back == nil {
			continue
		}
		if k := bufKey(n.out); k != nil && !skip[k] {
			skip[k] = true
			freeBuf(n.out.data)
		}
		n.out.data = nil
	}
}

// Free hands the buffers of tensors ad computed, and the caller is done
// with, back to ad for reuse by later operations, and empties those
// tensors: their Data becomes nil. It takes two kinds of tensor:
//
//   - gradients returned by Grad (or by VJP without recording), once the
//     optimizer has used them:
//
//     g := ad.Grad(loss, params...)
//     ad.Release(loss)
//     opt.Step(params, g)
//     ad.Free(g...)
//
//   - results of operations on constants, which record no graph (an
//     evaluation without gradients), once read.
//
// Without it the same memory is allocated afresh, zeroed by the runtime and
// reclaimed by the garbage collector later: for the paper's MNIST VAE the
// gradients are 5.6 MB per step, and an S = 1000 evaluation of 100 images
// computes 2 GB of layer outputs (docs/ad.md, "The real-data workloads
// against PyTorch").
//
// Anything else is left as it is: a tensor on a graph (Release is for
// those), a parameter, a tensor made with New, Zeros and the like (whose
// buffer may be the caller's), a view made by Reshape or Detach, a
// recorded gradient of GradGraph. So Free never takes memory from a
// tensor it does not know to be ad's alone — but a view of a freed
// tensor, or an operation's result that is its operand returned as it is
// (a Reshape to the same shape, a Detach of a constant), is freed with it:
// the caller must hold on to none of those.
func Free(ts ...*Tensor) {
	for _, t := range ts {
		if t == nil || !t.owned || t.node != nil {
			continue
		}
		t.owned = false
		freeBuf(t.data)
		t.data = nil
	}
}
