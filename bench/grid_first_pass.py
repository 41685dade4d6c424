"""First-pass quality of a maze grid checkpoint on raw mazes: on how many it marks exactly the
cells of shortest S-G paths, and the pass time. Usage: python bench/grid_first_pass.py CKPT DATASET N"""
import sys, time, torch
from rsolve.puzzles.dataset import load_examples
from rsolve.lattice.maze import MazeDomain, search_fields, ON_PATH
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
    keep = m(d.inputs(cand, static, 7), shape=(h, w))[0][0]
dt = time.time() - t
exact = 0
for b, e in enumerate(ex):
    f = search_fields(cand[b].numpy(), e.puzzle.start, e.puzzle.goal, h, w)
    pred = (keep[b, :, ON_PATH] > 0).numpy()
    exact += bool(((pred == f["on"]) | ~cand[b, :, ON_PATH].numpy()).all())
print(sys.argv[1], f"exact first pass {exact}/{len(ex)}  {dt/len(ex):.3f} s/maze")
