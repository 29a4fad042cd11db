import time, numpy as np, os, collections, sys
import tapegrad, tapegrad.kernels as kk
from tapegrad.benchmark.convnet import _mnist_images, tapegrad_convnet_epoch
backend = sys.argv[1] if len(sys.argv)>1 else "numba"
kk.set_num_threads(int(sys.argv[2]) if len(sys.argv)>2 else 1)
x,y = _mnist_images(6400)
ep = tapegrad_convnet_epoch(x,y,backend)
ep()
tot=collections.Counter(); cnt=collections.Counter()
names = [n for n in dir(kk) if not n.startswith('_') and n not in ('use','get_backend','available_backends','set_num_threads','to_numpy','Backend','BackendUnavailableError','ClassIds') and callable(getattr(kk,n))]
for n in names:
    f=getattr(kk,n)
    def w(*a, _f=f, _n=n, **k):
        t=time.perf_counter()
        try: return _f(*a,**k)
        finally:
            key=(_n, tuple(a[0].shape) if hasattr(a[0],"shape") else None); tot[key]+=time.perf_counter()-t; cnt[key]+=1
    setattr(kk,n,w)
t=time.perf_counter(); ep(); T=time.perf_counter()-t
print(f"epoch {T:.2f}s; kernels {sum(tot.values()):.2f}s")
for n,s in tot.most_common(): print(f"{str(n):60s} {s:6.3f}s {cnt[n]:5d} {1e3*s/cnt[n]:7.3f} ms")
