package nn

import (
	"fmt"
	"iter"
	"strconv"

	"github.com/eimkit/eimkit/ad"
)

// Params is an ordered set of named parameter tensors: the unit that Adam
// steps and a Checkpoint saves. Names are unique, and so are tensors (a
// tensor added twice would be stepped twice). The zero value is an empty
// set ready to use.
//
// The order is the order of Add, and it matters: Adam keeps its moments by
// position, so pass Tensors() to Adam.Step, and build the set in the same
// order in a run that loads a checkpoint.
type Params struct {
	names []string
	ts    []*ad.Tensor
	index map[string]int
	seen  map[*ad.Tensor]string
}

// Add appends tensors under name. One tensor is stored as name itself;
// several are stored as name.0, name.1, … in order, so
//
//	p.Add("energy", mlp.Params()...)
//
// gives energy.0 (W₁), energy.1 (B₁), energy.2 (W₂), …. It panics if ts is
// empty, a tensor is nil, a resulting name is already taken, or a tensor is
// already in the set; on a panic nothing is added.
func (p *Params) Add(name string, ts ...*ad.Tensor) {
	if len(ts) == 0 {
		panic(fmt.Sprintf("nn: Params.Add: no tensors for %q", name))
	}
	names := make([]string, len(ts))
	if len(ts) == 1 {
		names[0] = name
	} else {
		for i := range ts {
			names[i] = name + "." + strconv.Itoa(i)
		}
	}
	for i, t := range ts {
		if t == nil {
			panic(fmt.Sprintf("nn: Params.Add: tensor %q is nil", names[i]))
		}
		if _, dup := p.index[names[i]]; dup {
			panic(fmt.Sprintf("nn: Params.Add: duplicate name %q", names[i]))
		}
		if prev, dup := p.seen[t]; dup {
			panic(fmt.Sprintf("nn: Params.Add: tensor %q is already in the set as %q", names[i], prev))
		}
		for j := range i {
			if names[j] == names[i] {
				panic(fmt.Sprintf("nn: Params.Add: duplicate name %q", names[i]))
			}
			if ts[j] == t {
				panic(fmt.Sprintf("nn: Params.Add: tensor %q is already in the set as %q", names[i], names[j]))
			}
		}
	}
	if p.index == nil {
		p.index = make(map[string]int)
		p.seen = make(map[*ad.Tensor]string)
	}
	for i, t := range ts {
		p.index[names[i]] = len(p.ts)
		p.seen[t] = names[i]
		p.names = append(p.names, names[i])
		p.ts = append(p.ts, t)
	}
}

// Tensors returns the tensors in order. The slice is the set's own; the
// caller must not modify it (appending to it is safe).
func (p *Params) Tensors() []*ad.Tensor { return p.ts[:len(p.ts):len(p.ts)] }

// Names returns the names in order. The slice is the set's own; the caller
// must not modify it (appending to it is safe).
func (p *Params) Names() []string { return p.names[:len(p.names):len(p.names)] }

// Get returns the tensor stored under name, or nil.
func (p *Params) Get(name string) *ad.Tensor {
	i, ok := p.index[name]
	if !ok {
		return nil
	}
	return p.ts[i]
}

// All iterates over (name, tensor) pairs in order.
func (p *Params) All() iter.Seq2[string, *ad.Tensor] {
	return func(yield func(string, *ad.Tensor) bool) {
		for i, t := range p.ts {
			if !yield(p.names[i], t) {
				return
			}
		}
	}
}

// Count returns the number of tensors.
func (p *Params) Count() int { return len(p.ts) }

// Len returns the number of scalars: the total number of entries of all
// tensors.
func (p *Params) Len() int {
	n := 0
	for _, t := range p.ts {
		n += t.Len()
	}
	return n
}
