"""The shape-only dry run of the unchanged TT tree at full size (tt.dry_run): every preset fits the L1 and DRAM of
the n150, an n300 chip and the p150 at 1 and 3 cameras, both image sizes and batch 1 and 4, with every op's program
modelled; a refusal names the op, the call site and the rule."""

from dataclasses import replace

import pytest
import ttnn

import tt.common
from tests.tt.conftest import FULL_SIZE
from tt.dry_run import STAGES, main
from tt.host.device import DEVICES

MIB = 1 << 20


def test_every_full_size_configuration_fits(full_size):
    print(f"\n{'preset':<10}{'device':<7}{'cams':>5}{'px':>5}{'batch':>6} | ops vision/prefix/step/call | "
          "peak L1 per core | peak DRAM | op needing the most L1")
    for combo in FULL_SIZE:
        run = full_size.runs.get(combo)
        if run is None:
            continue
        stages = [run.stage(name) for name in STAGES]
        whole = stages[-1]
        print(f"{combo[0]:<10}{combo[1]:<7}{combo[2]:>5}{combo[3]:>5}{combo[4]:>6} | "
              f"{'/'.join(str(s.ops) for s in stages):<26} | {whole.peak_l1:>14,} B | "
              f"{whole.peak_dram / MIB:>6,.0f} MiB | {whole.largest.op} at {whole.largest.call_site.split(' <- ')[-1]}")
    assert not full_size.refusals, "\n".join(f"{combo}: {message}" for combo, message in full_size.refusals.items())
    for combo, run in full_size.runs.items():
        spec, whole = DEVICES[combo[1]], run.stage("whole call")
        assert not whole.unmodelled, f"{combo}: ops without an L1 model: {whole.unmodelled}"
        assert whole.peak_l1 <= spec.l1_budget and whole.peak_dram <= spec.dram_bytes
        assert run.stage("step 0").ops > 0 and run.stage("vision").ops > 0 and run.stage("prefix").ops > 0


def test_cli_prints_every_stage(capsys):
    assert main(["--preset", "pi0", "--cameras", "3", "--grid", "8x7"]) == 0
    out = capsys.readouterr().out
    print(out)
    assert "n300 (wormhole_b0, grid 8x7), 3 camera(s) at 224 px" in out
    for stage in ("vision", "prefix", "step", "whole call"):
        assert any(line.startswith(stage) for line in out.splitlines()), stage


def _config_without_output_blocks(m, k, n, grid, spec, operands, fidelity, activation=None):
    """The 2D config tt/program_configs.py chose before it took the L1 budget: each core's whole output block at
    once, K in the largest blocks of at most 8 tiles."""
    mt, kt, nt = -(-m // 32), -(-k // 32), -(-n // 32)
    if mt < grid.y:
        return tt.program_configs.matmul_config(m, k, n, grid, spec, operands, fidelity, activation)
    per_core = (-(-mt // grid.y), -(-nt // grid.x))
    return ttnn.MatmulMultiCoreReuseMultiCastProgramConfig(
        compute_with_storage_grid_size=grid, in0_block_w=max(d for d in range(1, 9) if kt % d == 0),
        out_subblock_h=1, out_subblock_w=1,
        per_core_M=per_core[0], per_core_N=per_core[1], transpose_mcast=False,
        fused_activation=None if activation is None else ttnn.UnaryWithParam(activation))


def test_a_refusal_names_the_op_the_call_site_and_the_rule(monkeypatch, capsys):
    monkeypatch.setattr(tt.common, "matmul_config", _config_without_output_blocks)
    assert main(["--preset", "pi0", "--grid", "8x8"]) == 1
    err = capsys.readouterr().err
    print(err)
    assert "ttnn.linear: Statically allocated dataflow buffers on core range [0-0 - 7-4] grow to" in err
    assert "which is beyond max L1 size of 1499136 B" in err
    assert "[called from tt/common.py" in err and "(GatedMLP.__call__)" in err


def test_dram_that_does_not_hold_the_weights_is_refused(monkeypatch, capsys):
    monkeypatch.setitem(DEVICES, "n150", replace(DEVICES["n150"], dram_bytes=2 << 30))
    assert main(["--preset", "pi0"]) == 1
    err = capsys.readouterr().err
    print(err)
    assert "Out of Memory: Not enough space to allocate" in err and "DRAM buffer across 12 banks" in err
    assert "[called from tt/common.py" in err


@pytest.mark.parametrize("argv, message", [(["--preset", "pi0", "--cameras", "4"], "cameras must be in 1..3"),
                                           (["--preset", "pi0", "--batch", "0"], "batch and steps must be positive")])
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
