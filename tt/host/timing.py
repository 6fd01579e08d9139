"""Predicted device time of each op (the host path's device-time model). Every figure it gives is predicted, not
measured: no op here ran on a Tenstorrent card.

A program's kernel time is a fixed start-up cost plus the larger of its compute time on its busiest core and the
time its DRAM traffic takes at the chip's sustained bandwidth; it is never below the op's physical floor,
max(FLOPs / peak at its math fidelity on the cores it uses, minimal DRAM bytes / peak DRAM bandwidth).

- Matmul (calibrated, MATMUL below): each core walks its output blocks, K blocks and subblocks; a K step of an
  h x w subblock costs max(h * w tile products at the fidelity's cycles, unpacking h + w input tiles) plus a
  fixed step cost, and each K block a fixed sync cost. The constants are fitted on the Wormhole N150 rows of
  tt-metal's GEMM_FLOPS report (benchmarks/device_model.py calibrate); its Blackhole P150 rows are held out.
  A DRAM-sharded program walks the blocking its factory derives (one worker per DRAM bank, widened subblocks); on
  tt-metal's published Blackhole DRAM-sharded decode matmuls these constants predict 1.2-1.6x the measured time.
- Everything else is uncalibrated: a per-tile cost per op class, read off published per-op device times
  (tt-perf-report's CLIP-encoder profiler captures and tt-metal's Blackhole RMSNorm experiments); the fused rotary
  embedding and the ternary addcmul, which have none, scale a binary op's cost by the tiles they move.

Sources: tt-metal tech_reports/GEMM_FLOPS/GEMM_FLOPS.md (commit 06bd3735; matrix engine: 8x16 x 16x16 per cycle,
a 32x32x32 tile product in 16 / 32 / 48 / 64 cycles at LoFi / HiFi2 / HiFi3 / HiFi4); tt-perf-report
tests/data/wh_clip_encoder_2.csv and bh_64_clip_encoder_1.csv (DEVICE KERNEL DURATION [ns] of eager CLIP-encoder ops)
and bh_8xp150_deepseek_v3_d_p.csv (DeepSeek-V3 ops on a P150: the streaming DRAM rate, benchmarks/device_model/
streams.py); tt-metal tests/ttnn/unit_tests/operations/rms_norm/perf_experiments (Blackhole RMSNorm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ttnn

from tt.host.device import DeviceSpec
from tt.host.memory import TILE_BYTES, tiled_bytes
from tt.host.resources import Program
from tt.host.resources.matmul import DRAM_SHARDED, REUSE, MatmulGeometry, MatmulOperands, dram_sharded_blocking

TILE_PRODUCT_CYCLES = {"LoFi": 16, "HiFi2": 32, "HiFi3": 48, "HiFi4": 64}  # GEMM_FLOPS.md
# SDPA's online softmax (max, exp, sum, rescale) per 32x32 score tile, in cycles: from BGE-M3 (B 32, S 512, 16 heads of
# 64) SDPA on Blackhole, 35.2 ms over 24 layers with q / k chunks of 128 (tt-metal models/experimental/pi0_5/
# PERF_PLAYBOOKS/04_ATTENTION_SDPA.md, 03_QKV_PROJECTION.md): 1.47 ms per layer on 110 cores is 19 q chunks per
# core of 256 HiFi2 tile products and 64 score tiles each.
SOFTMAX_CYCLES_PER_SCORE_TILE = 1450
FLOPS_PER_TILE_PRODUCT = 2 * 32 ** 3
LOFI_FLOPS_PER_CYCLE = FLOPS_PER_TILE_PRODUCT / TILE_PRODUCT_CYCLES["LoFi"]  # 4096 per Tensix core


@dataclass(frozen=True)
class MatmulConstants:
    """Fitted on GEMM_FLOPS' N150 rows only (benchmarks/device_model.py calibrate prints the fit)."""

    unpack_bytes_per_cycle: float
    step_cycles: float
    block_cycles: float
    start_ns: float


MATMUL = MatmulConstants(unpack_bytes_per_cycle=46.30, step_cycles=23.47, block_cycles=766.5, start_ns=0.0)


@dataclass(frozen=True)
class ArchConstants:
    """Per-architecture constants of DRAM traffic, the uncalibrated op classes and dispatch."""

    dram_efficiency: float  # sustained / peak DRAM bandwidth of ttnn's streaming ops (reads and writes)
    matmul_dram_efficiency: float  # the same for a matmul's DRAM-interleaved weights
    sharded_matmul_dram_efficiency: float  # and for DRAM-sharded weights
    start_ns: float  # the shortest interleaved op in the captures (BinaryNg add, 32 x hidden)
    tile_ns: dict  # op class -> ns per tile on the busiest core, DRAM-interleaved operands
    eager_dispatch_ns: float  # host time per op outside a trace (GEMM_FLOPS: eager - traced host time, m <= 1024)
    traced_gap_ns: float  # op-to-op gap inside a trace (GEMM_FLOPS: traced host time - device time, m <= 1024)

    def weights_efficiency(self, dram_sharded: bool) -> float:
        """The DRAM efficiency at which a matmul reads its weights: DRAM-sharded or interleaved."""
        return self.sharded_matmul_dram_efficiency if dram_sharded else self.matmul_dram_efficiency


# DRAM efficiencies: streaming ops, fitted on captured ttnn ops whose operands are all DRAM-interleaved
# (benchmarks/device_model/streams.py: concat and nlp_concat_heads of DeepSeek-V3 on a P150, 16 rows, 340 of 512 GB/s;
# the one large transpose of the Wormhole CLIP capture, 222 of 288, a lower bound if that op is not DRAM-bound). The
# tuned read-only microbenchmarks (tech_reports/Saturating_DRAM_bandwidth: 267 of 288, 500 of 512) are not what ops
# sustain while reading and writing;
# interleaved matmul weights, the Mixtral-8x7B decode microtests on Wormhole (32 x 4096 @ 4096 x 14336 bfloat8_b,
# 1D multicast: "memory BW = 153.6 GB/s", 155.0 for the down projection), taken for Blackhole too; DRAM-sharded
# weights, Llama3-70B decode on Wormhole (239-260 GB/s) and test_dram_sharded_decode_matmul.py on Blackhole
# (bfloat16 32 x 4096 x 4096 in 70.8 us: 474 GB/s).
# Per-tile costs: (kernel time - start) / tiles on the busiest core, from the captures: BinaryNg 32 x 4H,
# Unary (gelu) 32 x 4H, LayerNorm 32 x H on one core; "stream" (copies: typecast, concat, slice, heads, embedding)
# takes the binary figure.
# The fused rotary embedding ("rope") and the ternary addcmul have no published time. Binary ops, which move 3 tiles
# per output tile (two in, one out), are taken as bound by tile movement; the rotary kernel moves 5 (x twice, cos,
# sin, the output), the ternary 4 (three in, one out).
ROPE_TILES_MOVED, TERNARY_TILES_MOVED = 5 / 3, 4 / 3
WORMHOLE = ArchConstants(222 / 288, 155 / 288, 250 / 288, 2803.0,
                         {"stream": 2061.0, "sfpu": 3540.0, "norm": 1266.0, "rope": ROPE_TILES_MOVED * 2061.0,
                          "ternary": TERNARY_TILES_MOVED * 2061.0},
                         100_108.0, 2851.0)
BLACKHOLE = ArchConstants(340 / 512, 155 / 288, 474 / 512, 1644.0,
                          {"stream": 710.0, "sfpu": 1620.0, "norm": 732.0, "rope": ROPE_TILES_MOVED * 710.0,
                           "ternary": TERNARY_TILES_MOVED * 710.0},
                          46_816.0, 1465.0)


def arch_constants(spec: DeviceSpec) -> ArchConstants:
    return BLACKHOLE if spec.arch == ttnn.Arch.BLACKHOLE else WORMHOLE


def elapsed_ns(record, spec: DeviceSpec, traced: bool | None = None) -> float:
    """The time a recorded op (tt.oplog.OpRecord) holds the device queue: its kernel plus the op-to-op gap. Outside
    a trace the host dispatches each op itself, and an op whose kernel is shorter than the dispatch waits for it
    (dispatch runs ahead of the device, so the longer of the two paces the queue). `traced` overrides the record's
    own mode (an eager dry run priced as the traced call it would be). A view (no program) issues no device command
    and takes no time."""
    if record.programs == ():
        return 0.0
    arch = arch_constants(spec)
    busy = record.cost.kernel_ns + arch.traced_gap_ns
    return busy if (record.traced if traced is None else traced) else max(busy, arch.eager_dispatch_ns)


@dataclass(frozen=True)
class OpCost:
    """Predicted device cost of one op call (all its programs)."""

    kernel_ns: float  # all its programs
    floor_ns: float  # the physical floor on the cores it uses
    flops: float
    dram_bytes: float  # minimal DRAM traffic: DRAM inputs read once, DRAM outputs written once
    fidelity: str | None
    calibrated: bool
    programs_ns: tuple[float, ...] = ()  # kernel time of each program, in order

    def roofline_ns(self, spec: DeviceSpec) -> float:
        """The floor on the whole grid: what no program of this op could beat."""
        peak = spec.cores * _flops_per_cycle(self.fidelity) * spec.clock_hz
        return max(self.flops / peak * 1e9, self.dram_bytes / spec.dram_bandwidth * 1e9)


def _flops_per_cycle(fidelity: str | None) -> float:
    return LOFI_FLOPS_PER_CYCLE * TILE_PRODUCT_CYCLES["LoFi"] / TILE_PRODUCT_CYCLES[fidelity or "LoFi"]


def _fidelity(call) -> str | None:
    kernel = call.arguments.get("compute_kernel_config")
    return None if kernel is None else kernel.math_fidelity.name


def _bytes(t) -> int:
    if t is None or t.memory_config().buffer_type != ttnn.BufferType.DRAM:
        return 0
    return tiled_bytes(t.padded_shape, t.dtype) if t.layout == ttnn.TILE_LAYOUT else \
        math.prod(t.padded_shape) * TILE_BYTES[t.dtype] // 1024


def _dram_time_ns(nbytes: float, spec: DeviceSpec, efficiency: float | None = None) -> float:
    efficiency = arch_constants(spec).dram_efficiency if efficiency is None else efficiency
    return nbytes / (spec.dram_bandwidth * efficiency) * 1e9


def _floor_ns(flops: float, fidelity: str | None, cores: int, nbytes: float, spec: DeviceSpec) -> float:
    compute = flops / (max(cores, 1) * _flops_per_cycle(fidelity) * spec.clock_hz) * 1e9 if flops else 0.0
    return max(compute, nbytes / spec.dram_bandwidth * 1e9)


@dataclass(frozen=True)
class MatmulWork:
    """What a matmul program's busiest core does, independent of the fitted constants."""

    steps: int  # K steps over every subblock of every output block
    math_cycles_per_step: int  # h x w tile products at the fidelity
    unpack_bytes_per_step: int  # h in0 tiles and w in1 tiles
    k_blocks: int  # K blocks over every output block

    def cycles(self, constants: MatmulConstants = MATMUL) -> float:
        per_step = max(self.math_cycles_per_step, self.unpack_bytes_per_step / constants.unpack_bytes_per_cycle)
        return self.steps * (per_step + constants.step_cycles) + self.k_blocks * constants.block_cycles


@dataclass(frozen=True)
class MatmulBlocking:
    """The output a matmul program's busiest core computes, in tiles: all of it, one pass's block, one subblock."""

    per_core_m: int
    per_core_n: int
    block_h: int
    block_w: int
    sub_h: int
    sub_w: int

    @classmethod
    def of(cls, config, g: MatmulGeometry, ops: MatmulOperands, dram_banks: int) -> "MatmulBlocking":
        """A DRAM-sharded config states none of it but per_core_M: its factory derives the rest from the banks."""
        if isinstance(config, DRAM_SHARDED):
            sub_h, sub_w, width = dram_sharded_blocking(config, g, ops, dram_banks)
            return cls(config.per_core_M, width, config.per_core_M, width, sub_h, sub_w)
        return cls(config.per_core_M, config.per_core_N, getattr(config, "out_block_h", config.per_core_M),
                   getattr(config, "out_block_w", config.per_core_N), config.out_subblock_h, config.out_subblock_w)


def matmul_work(config, g: MatmulGeometry, ops: MatmulOperands, fidelity: str, dram_banks: int) -> MatmulWork:
    b = MatmulBlocking.of(config, g, ops, dram_banks)
    block_h, block_w, sub_h, sub_w = b.block_h, b.block_w, b.sub_h, b.sub_w
    loops = 1 if isinstance(config, REUSE) else g.batch  # REUSE deals the batch out over its cores
    out_blocks = (b.per_core_m // block_h) * (b.per_core_n // block_w) * loops
    k_blocks = out_blocks * (g.kt // config.in0_block_w)
    steps = k_blocks * (block_h // sub_h) * (block_w // sub_w) * config.in0_block_w
    return MatmulWork(steps, sub_h * sub_w * TILE_PRODUCT_CYCLES[fidelity],
                      sub_h * TILE_BYTES[ops.in0_dtype] + sub_w * TILE_BYTES[ops.in1_dtype], k_blocks)


def matmul_traffic(config, g: MatmulGeometry, ops: MatmulOperands, in0_dram: bool, out_dram: bool) -> float:
    """DRAM bytes a matmul program reads and writes: in0 once per output block column a core walks, in1 once per
    output block row (multicast shares each read with a row or column of cores)."""
    block_h = getattr(config, "out_block_h", config.per_core_M)
    block_w = getattr(config, "out_block_w", config.per_core_N)
    rereads_in0, rereads_in1 = config.per_core_N // block_w, config.per_core_M // block_h
    in0 = g.total_mt * g.kt * TILE_BYTES[ops.in0_dtype] * rereads_in0 if in0_dram else 0
    in1 = g.kt * g.nt * TILE_BYTES[ops.in1_dtype] * rereads_in1
    out = g.total_mt * g.nt * TILE_BYTES[ops.out_dtype] if out_dram else 0
    return in0 + in1 + out


def matmul_kernel_ns(config, g: MatmulGeometry, ops: MatmulOperands, fidelity: str, spec: DeviceSpec,
                     in0_dram: bool, out_dram: bool, constants: MatmulConstants = MATMUL) -> float:
    """Predicted kernel time of a matmul program, its fused activation's SFPU pass included, before the physical
    floor is applied."""
    compute_ns = matmul_work(config, g, ops, fidelity, spec.dram_banks).cycles(constants) / spec.clock_hz * 1e9
    traffic = matmul_traffic(config, g, ops, in0_dram, out_dram)
    arch = arch_constants(spec)
    efficiency = arch.weights_efficiency(isinstance(config, DRAM_SHARDED))
    kernel = constants.start_ns + max(compute_ns, _dram_time_ns(traffic, spec, efficiency))
    if getattr(config, "fused_activation", None) is not None:
        b = MatmulBlocking.of(config, g, ops, spec.dram_banks)
        kernel += activation_ns(b.per_core_m * b.per_core_n, spec)
    return kernel


def _matmul(call, spec: DeviceSpec, program: Program) -> OpCost:
    config, g, ops = call.arguments["program_config"], MatmulGeometry.of(call), MatmulOperands.of(call)
    fidelity = _fidelity(call) or "LoFi"  # ttnn's matmul default (init_device_compute_kernel_config)
    a, b = call.tensor("input_tensor_a"), call.tensor("input_tensor_b")
    flops = FLOPS_PER_TILE_PRODUCT * g.total_mt * g.kt * g.nt
    minimal = _bytes(a) + _bytes(b) + g.total_mt * g.nt * TILE_BYTES[ops.out_dtype] * (not ops.out_sharded)
    floor = _floor_ns(flops, fidelity, program.work.busy_cores, minimal, spec)
    kernel = matmul_kernel_ns(config, g, ops, fidelity, spec, _bytes(a) > 0, not ops.out_sharded)
    return OpCost(max(kernel, floor), floor, flops, minimal, fidelity, True)


def activation_ns(output_tiles_per_core: int, spec: DeviceSpec) -> float:
    """A fused activation's SFPU pass over a core's output tiles: what a standalone unary op costs per tile beyond
    moving it (the "sfpu" class less the "stream" class); uncalibrated."""
    arch = arch_constants(spec)
    return output_tiles_per_core * (arch.tile_ns["sfpu"] - arch.tile_ns["stream"])


def streamed_ns(tiles_on_busiest_core: int, op_class: str, nbytes: float, spec: DeviceSpec) -> float:
    """An uncalibrated op that streams tiles: start-up, then its busiest core's tiles at the class's per-tile cost or
    its DRAM traffic at the sustained bandwidth, whichever is longer."""
    arch = arch_constants(spec)
    return arch.start_ns + max(tiles_on_busiest_core * arch.tile_ns[op_class], _dram_time_ns(nbytes, spec))


def _streamed_bytes(call, program: Program, out_bytes: int) -> int:
    """DRAM bytes an uncalibrated op moves: its inputs once and its outputs once, except an embedding, which reads
    only the table rows it gathers (as many bytes as it writes), and fill_cache, which writes its input into rows of
    the cache it returns (input bytes in, the same out)."""
    if program.name == "embedding":
        return 2 * out_bytes
    if program.name == "fill_cache":
        return 2 * _bytes(call.tensor("input_tensor"))
    return sum(_bytes(t) for t in _tensors(call)) + out_bytes


def _streamed(call, spec: DeviceSpec, program: Program, op_class: str, out_bytes: int) -> OpCost:
    nbytes = _streamed_bytes(call, program, out_bytes)
    kernel = streamed_ns(program.work.units_per_core * _tiles_per_unit(call, program), op_class, nbytes, spec)
    floor = _floor_ns(0.0, None, program.work.busy_cores, nbytes, spec)
    return OpCost(max(kernel, floor), floor, 0.0, nbytes, None, False)


def _tiles_per_unit(call, program: Program) -> int:
    """Tiles in one work unit: norms, the rotary embedding and fill_cache deal out rows of tiles (a row is the width
    in tiles), the rest single tiles."""
    if program.name not in ("norm", "rope", "fill_cache"):
        return 1
    return list(call.tensor("input_tensor").padded_shape)[-1] // 32


def _tensors(call):
    return [v for v in call.arguments.values() if hasattr(v, "padded_shape")] + \
        [t for v in call.arguments.values() if isinstance(v, (list, tuple)) for t in v if hasattr(t, "padded_shape")]


def sdpa_kernel_ns(units_per_core: int, q_chunk: int, k_chunk: int, sk: int, dh_tiles: int, fidelity: str,
                   traffic: float, spec: DeviceSpec) -> float:
    """Per q chunk of the busiest core: Q K^T and P V tile products at the fidelity over every k chunk, and the
    online softmax on every score tile; or the DRAM traffic, whichever is longer."""
    sq_t, sk_t = q_chunk // 32, -(-sk // k_chunk) * k_chunk // 32
    per_chunk = (2 * sq_t * sk_t * dh_tiles * TILE_PRODUCT_CYCLES[fidelity]
                 + sq_t * sk_t * SOFTMAX_CYCLES_PER_SCORE_TILE) / spec.clock_hz * 1e9
    return arch_constants(spec).start_ns + max(units_per_core * per_chunk, _dram_time_ns(traffic, spec))


def sdpa_traffic(kv_bytes: float, q_per_kv: int, q_chunks: int) -> float:
    """K and V bytes read: once per q chunk of every query head sharing them."""
    return kv_bytes * q_per_kv * q_chunks


def _sdpa(call, spec: DeviceSpec, program: Program) -> OpCost:
    config = call.arguments.get("program_config")
    q, k, v = (call.tensor(n) for n in ("input_tensor_q", "input_tensor_k", "input_tensor_v"))
    fidelity = _fidelity(call) or "HiFi2"
    b, heads, sq, dh = list(q.padded_shape)
    sk = list(k.padded_shape)[2]
    q_chunk, k_chunk = (config.q_chunk_size, config.k_chunk_size) if config else (32, 32)
    kv_heads = list(k.padded_shape)[1]
    minimal = _bytes(q) * 2 + _bytes(k) + _bytes(v) + _bytes(call.tensor("attn_mask"))
    traffic = minimal - _bytes(k) - _bytes(v) + sdpa_traffic(_bytes(k) + _bytes(v), heads // kv_heads,
                                                             -(-sq // q_chunk))
    flops = FLOPS_PER_TILE_PRODUCT * 2 * b * heads * (sq // 32) * (sk // 32) * (dh // 32)
    floor = _floor_ns(flops, fidelity, program.work.busy_cores, minimal, spec)
    kernel = sdpa_kernel_ns(program.work.units_per_core, q_chunk, k_chunk, sk, dh // 32, fidelity, traffic, spec)
    return OpCost(max(kernel, floor), floor, flops, minimal, fidelity, False)


_CLASSES = {"binary": "stream", "mask prescale": "stream", "typecast": "stream", "concat": "stream",
            "fill_cache": "stream", "slice": "stream", "split": "stream", "embedding": "stream",
            "create_qkv_heads": "stream", "concat_heads": "stream", "unary": "sfpu", "norm": "norm", "rope": "rope",
            "ternary": "ternary"}


def op_cost(call, spec: DeviceSpec, programs: tuple[Program, ...] | None, outputs) -> OpCost | None:
    """The predicted cost of a shape-only call whose programs the host path models (None otherwise); a view costs
    nothing. `outputs`: the call's result tensors."""
    if programs is None:
        return None
    out_bytes = sum(_bytes(t) for t in outputs)
    costs = []
    for program in programs:
        if program.name == "matmul":
            costs.append(_matmul(call, spec, program))
        elif program.name == "sdpa":
            costs.append(_sdpa(call, spec, program))
        else:
            costs.append(_streamed(call, spec, program, _CLASSES[program.name], out_bytes))
    return OpCost(sum(c.kernel_ns for c in costs), sum(c.floor_ns for c in costs), sum(c.flops for c in costs),
                  sum(c.dram_bytes for c in costs), next((c.fidelity for c in costs if c.fidelity), None),
                  all(c.calibrated for c in costs), tuple(c.kernel_ns for c in costs))
