"""Say which CPU kernels NumPy and PyTorch will use, and fail if an emulation did not take.

`make test-emulated` re-runs nbval over every chapter as if on other machines, by choosing the
kernels that OpenBLAS (NumPy's matrix products), ATen (PyTorch's element-wise and reduction
kernels) and MKL (PyTorch's matrix products on x86) pick, and the number of threads (see
../shared/NOTES.md and CONTRIBUTING.md). Those choices come from environment variables that the libraries read once,
when they load; a misspelled value is silently ignored, and the "other machine" would then be
this one again. This script runs first and checks that the kernels asked for are the ones in use.

    OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 OMP_NUM_THREADS=2 python tests/emulated_cpu.py
"""

import os
import re
import subprocess
import sys

import numpy  # noqa: F401  (loads OpenBLAS, so threadpoolctl can see it)
import threadpoolctl
import torch


def mkl_isa() -> str:
    """The instruction set MKL dispatches to, as its verbose mode reports it for one product."""
    probe = "import torch; a = torch.ones(8, 8); a @ a"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**os.environ, "MKL_VERBOSE": "1"}).stdout
    found = re.search(r"\(Intel\(R\) ([A-Z0-9.-]+)\)", out)
    return found.group(1) if found else "not MKL"


def main() -> int:
    blas = [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "openblas"]
    arch = blas[0].get("architecture") if blas else None
    threads = blas[0]["num_threads"] if blas else None
    aten = torch.backends.cpu.get_cpu_capability()
    mkl = mkl_isa()
    print(f"NumPy OpenBLAS kernels: {arch}, {threads} thread(s); PyTorch ATen kernels: {aten}, "
          f"MKL kernels: {mkl}, {torch.get_num_threads()} thread(s)")
    problems = []
    want_arch = os.environ.get("OPENBLAS_CORETYPE")
    if want_arch and (arch or "").lower() != want_arch.lower():
        problems.append(f"OPENBLAS_CORETYPE={want_arch} asked for, OpenBLAS uses {arch}")
    want_aten = os.environ.get("ATEN_CPU_CAPABILITY")
    if want_aten and aten.lower() != want_aten.lower():
        problems.append(f"ATEN_CPU_CAPABILITY={want_aten} asked for, PyTorch uses {aten}")
    want_mkl = os.environ.get("MKL_ENABLE_INSTRUCTIONS")
    if want_mkl and want_mkl.replace("_", ".").lower() != mkl.replace("-", "").lower():
        problems.append(f"MKL_ENABLE_INSTRUCTIONS={want_mkl} asked for, MKL uses {mkl}")
    want_threads = os.environ.get("OMP_NUM_THREADS")
    if want_threads and int(want_threads) != torch.get_num_threads():
        problems.append(f"OMP_NUM_THREADS={want_threads} asked for, PyTorch uses {torch.get_num_threads()}")
    for problem in problems:
        print(f"error: {problem}: the emulated run would not emulate anything", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
