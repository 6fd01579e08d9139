"""Bad and unusual inputs through the public API and the demo CLI, with what each should get: a clear error
naming the field (camera, file), a single clear warning, or an unambiguous conversion. `python -m
tests.input_cases` prints the outcome of every case and the counts; tests/test_input_cases.py requires every case
to pass."""

from .demo_cases import CASES as DEMO_CASES
from .file_cases import CASES as FILE_CASES
from .observation_cases import CASES as OBSERVATION_CASES
from .raw_input_cases import CASES as RAW_INPUT_CASES
from .sampling_cases import CASES as SAMPLING_CASES

CASES = OBSERVATION_CASES + SAMPLING_CASES + RAW_INPUT_CASES + FILE_CASES + DEMO_CASES
