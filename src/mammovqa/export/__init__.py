"""MammoVQA where researchers already evaluate: Hugging Face dataset, lmms-eval task, VLMEvalKit table out;
the harnesses' predictions back in as our prediction files (``mammovqa export ...``, ``mammovqa
import-predictions``).

Why a separate layer: the exports and imports only re-express what ``qa`` (items, prompts) and ``eval``
(matchers, metrics) define, so a harness-run model is scored with the same items, option orders, prompts and
matchers as our own predict path. Nothing here re-implements scoring.
"""
