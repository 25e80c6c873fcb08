"""hiprom.core.filters: the Student-t quantile that replaced scipy's in every worker."""

from __future__ import annotations

import subprocess
import sys

import pytest
from scipy.special import stdtrit

from hiprom.core.filters import MIN_T_DOF, student_t_quantile
from hiprom.errors import InputError


@pytest.mark.parametrize("dof", [0.5, 1.0, 1.7, MIN_T_DOF, 2.5, 3.0, 4.2, 7.0, 12.5, 30.0,
                                 100.0, 1e3, 1e5])
@pytest.mark.parametrize("p", [0.5, 0.75, 0.9, 0.975, 0.995, 0.9999])
def test_student_t_quantile_matches_scipy(dof, p):
    assert student_t_quantile(p, dof) == pytest.approx(float(stdtrit(dof, p)), rel=1e-8,
                                                       abs=1e-12)


def test_student_t_quantile_closed_forms():
    # One degree of freedom is Cauchy: tan(π(p − ½)); two: (2p − 1)/√(2p(1 − p)).
    assert student_t_quantile(0.975, 1.0) == pytest.approx(12.706204736174696, rel=1e-10)
    assert student_t_quantile(0.975, 2.0) == pytest.approx(0.95 / (2 * 0.975 * 0.025) ** 0.5,
                                                           rel=1e-10)


@pytest.mark.parametrize(("p", "dof"), [(0.4, 3.0), (1.0, 3.0), (0.975, 0.0), (0.975, -1.0)])
def test_student_t_quantile_refuses_what_it_cannot_answer(p, dof):
    with pytest.raises(InputError):
        student_t_quantile(p, dof)


def test_measuring_does_not_import_scipy():
    """scipy is for the agreement statistics; a batch worker must not pay its import."""
    code = ("import sys; from hiprom.batch.run import warm_worker, score_job; "
            "import hiprom.pipeline.summarise; "
            "print(any(m == 'scipy' or m.startswith('scipy.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
