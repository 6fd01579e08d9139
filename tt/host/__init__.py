"""The host path: a model of a Tenstorrent device that runs the unchanged TTNN tree without a card.

- device: the modelled chips (grid, L1, DRAM, clocks) and the HostDevice that stands in for one;
- binding: each call bound against the op's real C++ signature;
- rules: the dtype, layout and shape rules of each op;
- resources: the circular buffers each op's program would allocate per core, against the L1 budget;
- memory: buffer sizes in DRAM and L1, and the live buffers of a dry run;
- goldens, executor: computing an op on host values (Tenstorrent's golden functions), or on shapes alone;
- numerics: what the Tensix hardware computes for an op ("device" numerics), beside the golden ("exact");
- meta: the shape-only tensors of the dry run (tt.dry_run).
"""
