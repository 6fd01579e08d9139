"""What both trees share: configs, presets, inputs, masks and checkpoint loading."""

from .config import (DecoderConfig, PolicyConfig, ProjectorConfig, SamplerConfig, SiglipConfig, SuffixConfig,
                     gemma_decoder, qwen_decoder)
from .loading import load_policy
from .observation import Observation
from .presets import PRESETS, get_preset
from .rtc import RealTimeChunking

__all__ = ["DecoderConfig", "Observation", "PRESETS", "PolicyConfig", "ProjectorConfig", "RealTimeChunking",
           "SamplerConfig", "SiglipConfig", "SuffixConfig", "gemma_decoder", "get_preset", "load_policy",
           "qwen_decoder"]
