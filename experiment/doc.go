// Package experiment is the run harness that every eimkit command and
// notebook shares: a training run with an identity, checkpoints, bitwise
// resume, a metrics log, NaN checks and progress; an output directory with
// a lock and atomic writes; a memory check before allocating.
//
// # Overview
//
// A Run is the settings that determine a computation (Identity), the
// objects it trains (Params, an nn.Adam, the *rand.PCG its steps draw
// from, optional further State) and a Step function. Train takes the run
// from its checkpoint, or from scratch, to Steps steps:
//
//	step ← checkpoint's step (0 if none; refused if its identity differs)
//	while step < Steps:
//	    if ctx is cancelled: save checkpoint at step; return ErrInterrupted
//	    m ← Step(ctx, step)            // objective, gradient, optimizer update
//	    refuse NaN/±Inf in m and in Params (the last checkpoint is kept)
//	    step ← step + 1; append {step, objective, seconds, values} to metrics.jsonl
//	    every CheckpointEvery steps: save checkpoint
//	save checkpoint
//
// Do is Train followed by the run's Eval; a cancellation during Eval is
// ErrInterrupted too. OpenDir locks an output directory for the process
// and removes the temporary files of writes cut short by a kill; WriteFile
// and WriteJSON write outputs atomically. Parallel runs several runs on a
// fixed number of goroutines, stopping all at the first error; Stream
// gives each run and purpose its own random stream from one seed.
// CheckMemory refuses a configured run whose estimated memory exceeds what
// the machine, its cgroup or ulimit -v allow.
//
// # Invariants
//
//   - Resume is bitwise: a run trained in one go and one interrupted or
//     killed any number of times and trained again end with the same
//     parameters, optimizer moments, random state, State and metrics. This
//     holds if everything a step depends on is in Params, Adam, RNG or
//     State, or is fixed by Identity.
//   - Files on disk are whole: the checkpoint (nn.Save) and every output
//     (WriteFile) are written to a temporary file, synced and renamed. The
//     metrics log is synced before each checkpoint, so it always holds at
//     least the checkpoint's steps; lines past them (a kill after the
//     checkpoint) are dropped when the run resumes.
//   - One process per output directory: a second is refused with the
//     first's pid and command line; a lock left by a dead process is taken
//     over (flock(2) is released by the kernel when a process dies).
//   - A run that fails or is interrupted writes no results: commands write
//     their results only after every run has trained and evaluated, so a
//     finished run's results are never replaced by partial ones.
//
// # Use
//
// A notebook or command builds its model, then:
//
//	pcg := experiment.Stream(seed, "train", "my-model")
//	rng := rand.New(pcg)
//	ps := new(nn.Params)
//	ps.Add("energy", mlp.Params()...)
//	opt := &nn.Adam{LR: 3e-4}
//	run := &experiment.Run{
//		Dir:      "results/my-model",
//		Identity: map[string]string{"model": "my-model", "seed": "1", "lr": "0.0003"},
//		Steps:    10000, CheckpointEvery: 1000,
//		Params:   ps, Adam: opt, RNG: pcg,
//		Step: func(ctx context.Context, step int) (experiment.Metrics, error) {
//			obj := ad.Mean(bound(rng, batch(rng)))
//			loss := ad.Neg(obj)
//			g := ad.Grad(loss, ps.Tensors()...)
//			v := obj.Item()
//			ad.Release(loss)
//			opt.Step(ps.Tensors(), g)
//			return experiment.Metrics{Objective: v}, nil
//		},
//		Progress: experiment.NewProgress(os.Stderr, 10000, false),
//	}
//	rec, err := run.Train(ctx) // rec.Objectives() is the training curve
//
// docs/experiment.md describes the guarantees and their tests in full.
package experiment
