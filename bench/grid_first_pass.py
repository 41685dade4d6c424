"""First-pass quality of a maze grid checkpoint on raw mazes: on how many it marks exactly the
cells of shortest S-G paths, on how many its distance-to-G phase (mod 3, what the walk reads) is
right on every cell BFS reaches, and the pass time.
Usage: python bench/grid_first_pass.py CKPT DATASET N"""
import sys, time, torch
from rsolve.puzzles.dataset import load_examples
from rsolve.lattice.maze import MazeDomain, search_fields, ON_PATH, PHASE
from rsolve.models import ldt
from rsolve import checkpoints
torch.set_num_threads(1)
ck = checkpoints.validate(sys.argv[1])
m = ldt.from_config(ck.architecture); m.load_state_dict(checkpoints.load_state_dict(ck)); m.eval()
ex = load_examples(sys.argv[2])[:int(sys.argv[3])]
h, w = ex[0].puzzle.height, ex[0].puzzle.width
d = MazeDomain(h, w)
cand, fixed, static = d.encode([e.puzzle for e in ex])
t = time.time()
with torch.no_grad():
    keep, value, _ = m(d.inputs(cand, static, 7), shape=(h, w))
dt = time.time() - t
keep, phase = keep[0], value[0][..., 2:2 + PHASE].argmax(-1)
exact = phased = 0
for b, e in enumerate(ex):
    f = search_fields(cand[b].numpy(), e.puzzle.start, e.puzzle.goal, h, w)
    pred = (keep[b, :, ON_PATH] > 0).numpy()
    exact += bool(((pred == f["on"]) | ~cand[b, :, ON_PATH].numpy()).all())
    reached = f["to_goal"] >= 0
    phased += bool((phase[b].numpy()[reached] == f["to_goal"][reached] % PHASE).all())
print(sys.argv[1], f"exact first pass {exact}/{len(ex)}, phase right everywhere reached {phased}/{len(ex)}, "
      f"{dt/len(ex):.3f} s/maze")
