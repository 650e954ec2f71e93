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
//	ad.Recycle(g...) // the gradients too, once used
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

// Recycle hands the buffers of gradients returned by Grad (or by VJP
// without recording) back to ad for reuse by later operations, and empties
// those tensors: their Data becomes nil. A training loop calls it after the
// optimizer has used the gradients:
//
//	g := ad.Grad(loss, params...)
//	ad.Release(loss)
//	opt.Step(params, g)
//	ad.Recycle(g...)
//
// Without it every step allocates its gradients afresh — for the paper's
// MNIST VAE 5.6 MB, which the runtime zeroes and the garbage collector
// reclaims later (docs/ad.md, "The real-data workloads against PyTorch").
// Only a buffer that the backward pass allocated and that no other tensor
// shares is taken back; any other tensor (a recorded gradient of GradGraph,
// a parameter, a constant the caller made) is left as it is, so Recycle
// never frees memory something else still reads. The caller must not hold
// on to a recycled gradient's Data.
func Recycle(grads ...*Tensor) {
	for _, g := range grads {
		if g == nil || !g.gradOwned {
			continue
		}
		g.gradOwned = false
		freeBuf(g.data)
		g.data = nil
	}
}
