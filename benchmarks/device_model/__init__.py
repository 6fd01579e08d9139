"""The device-time model at work: calibration on tt-metal's published matmul measurements, one matmul's predicted
time, and a whole policy call's per-stage prediction with a profiler-format CSV (python -m benchmarks.device_model)."""
