package ad

import (
	"fmt"
	"slices"
)

// backwardFunc computes the vector–Jacobian products of one operation.
// g is the gradient with respect to the output; ins and out are the
// operation's inputs and output — attached to the graph when the gradient
// is being recorded (GradGraph), detached otherwise, so the same code serves
// first- and higher-order differentiation. need[i] says whether the gradient
// with respect to ins[i] is wanted; entries not needed may be nil, and a nil
// entry is also read as "zero".
type backwardFunc func(g *Tensor, ins []*Tensor, out *Tensor, need []bool) []*Tensor

type node struct {
	inputs []*Tensor
	out    *Tensor
	back   backwardFunc // nil for a leaf
}

// record attaches out to the graph if any input is attached, and returns out.
func record(out *Tensor, back backwardFunc, ins ...*Tensor) *Tensor {
	for _, in := range ins {
		if in.node != nil {
			out.node = &node{inputs: ins, out: out, back: back}
			return out
		}
	}
	return out
}

// Grad returns the gradients of the scalar y with respect to each tensor of
// wrt. The results are constants. A tensor of wrt that y does not depend on
// gets a zero gradient. It panics if y has more than one entry.
func Grad(y *Tensor, wrt ...*Tensor) []*Tensor {
	return VJP(y, nil, false, wrt...)
}

// GradGraph is Grad with the gradient computation itself recorded, so the
// results can be differentiated again (gradients of gradients, as
// Hamiltonian importance sampling needs when training through ∇ₓU).
func GradGraph(y *Tensor, wrt ...*Tensor) []*Tensor {
	return VJP(y, nil, true, wrt...)
}

// VJP returns the vector–Jacobian products seedᵀ ∂y/∂w for each w in wrt.
// A nil seed means ones (and then y must have one entry); otherwise seed
// must have y's shape. With create set, the computation is recorded.
func VJP(y, seed *Tensor, create bool, wrt ...*Tensor) []*Tensor {
	if seed == nil {
		if len(y.data) != 1 {
			panic(fmt.Sprintf("ad: Grad: y has shape %v; want a single entry (use VJP with a seed)", y.shape))
		}
		seed = Full(1, y.shape...)
	} else if !slices.Equal(seed.shape, y.shape) {
		panic(fmt.Sprintf("ad: VJP: seed shape %v does not match y shape %v", seed.shape, y.shape))
	}
	if !create {
		seed = seed.Detach()
	}
	res := make([]*Tensor, len(wrt))
	target := make(map[*node]bool, len(wrt))
	for _, w := range wrt {
		if w.node != nil {
			target[w.node] = true
		}
	}
	var order []*node
	if y.node != nil && len(target) > 0 {
		order = topo(y.node)
	}
	grads := make(map[*node]*Tensor, len(order))
	var rec *recycler // first-order passes recycle their gradient buffers
	if !create {
		rec = newRecycler(order)
		rec.markForward(seed)
	}
	if len(order) > 0 {
		grads[y.node] = seed
		if rec != nil {
			rec.store(seed)
		}
	}
	need := make(map[*node]bool, len(order))
	for _, n := range order { // post-order: inputs first
		if target[n] {
			need[n] = true
			continue
		}
		for _, in := range n.inputs {
			if in.node != nil && need[in.node] {
				need[n] = true
				break
			}
		}
	}
	for _, w := range wrt {
		if w.node != nil {
			need[w.node] = true
		}
	}
	keep := make(map[*node]bool, len(wrt))
	for _, w := range wrt {
		if w.node != nil {
			keep[w.node] = true
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		g := grads[n]
		if g == nil || n.back == nil || !need[n] {
			continue
		}
		mask := make([]bool, len(n.inputs))
		wanted := false
		for j, in := range n.inputs {
			mask[j] = in.node != nil && need[in.node]
			wanted = wanted || mask[j]
		}
		if !wanted {
			continue
		}
		ins, out := n.inputs, n.out
		if !create {
			ins = make([]*Tensor, len(n.inputs))
			for j, in := range n.inputs {
				ins[j] = in.Detach()
			}
			out = out.Detach()
		}
		gs := n.back(g, ins, out, mask)
		for j, in := range n.inputs {
			if !mask[j] || gs[j] == nil {
				continue
			}
			gj := gs[j]
			if !slices.Equal(gj.shape, in.shape) {
				panic(fmt.Sprintf("ad: internal: gradient shape %v for input shape %v", gj.shape, in.shape))
			}
			if rec != nil {
				rec.adopt(gj, g)
			}
			prev := grads[in.node]
			switch {
			case prev == nil:
				grads[in.node] = gj
				if rec != nil {
					rec.store(gj)
				}
			case rec != nil && rec.exclusive(prev) && bufKey(prev) != bufKey(gj):
				// Accumulate in place into a buffer only this slot holds.
				binLoop(kAdd, prev.data, prev.data, gj.data)
				rec.store(gj)
				rec.drop(gj)
			default:
				sum := Add(prev, gj)
				grads[in.node] = sum
				if rec != nil {
					rec.adopt(sum, g)
					rec.store(sum)
					rec.store(gj)
					rec.drop(gj)
					rec.drop(prev)
				}
			}
		}
		if !keep[n] {
			delete(grads, n)
			if rec != nil {
				rec.drop(g)
			}
		}
	}
	// Backward functions pass gradients through where shapes match, so two
	// results can share a backing array; copy so that each result can be
	// modified (clipped, say) on its own.
	seen := make(map[*float64]bool, len(wrt))
	for i, w := range wrt {
		g := grads[w.node]
		fresh := w.node == nil || g == nil
		if fresh {
			g = Zeros(w.shape...)
		}
		if !create {
			owned := fresh || (bufKey(g) != nil && rec.owned[bufKey(g)])
			g = g.Detach()
			if len(g.data) > 0 {
				if p := &g.data[0]; seen[p] || (len(seed.data) > 0 && p == &seed.data[0]) {
					g = g.Clone()
					owned = true
				} else {
					seen[p] = true
				}
			}
			g.owned = owned
		}
		res[i] = g
	}
	return res
}

// topo returns the nodes reachable from root in post-order (every node
// after all of its inputs). Nodes that cannot reach a target are pruned
// later, by the need marks in VJP.
func topo(root *node) []*node {
	type frame struct {
		n *node
		i int
	}
	visited := map[*node]bool{root: true}
	var order []*node
	stack := []frame{{root, 0}}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.i < len(f.n.inputs) {
			in := f.n.inputs[f.i]
			f.i++
			if in.node != nil && !visited[in.node] {
				visited[in.node] = true
				stack = append(stack, frame{in.node, 0})
			}
			continue
		}
		order = append(order, f.n)
		stack = stack[:len(stack)-1]
	}
	return order
}
