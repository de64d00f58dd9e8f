"""Adapting a pre-trained model: continued pre-training and auxiliary losses (chapter 12), and
tuning methods, each a small module swapped into the frozen blocks (chapters 13–15): BitFit,
adapters, LoRA, prefix-tuning.

    from ptm_course.tuning import apply_lora, apply_adapters, apply_bitfit, count_parameters
    model = apply_lora(BertForSequenceClassification(cfg, 2), rank=8, alpha=16)
    count_parameters(model)          # trainable / total / % of the backbone / bytes per task
    save_delta(model, "sst.lora.safetensors")   # only what this task trained

See :mod:`ptm_course.tuning.core` for the one mechanism they share.
"""

from .adaptive import AdaptRun, adapt, auxiliary_loss, continue_pretraining, mean_std, separated
from .adapters import HOULSBY, PFEIFFER, Adapter, WithAdapter, apply_adapters
from .bitfit import apply_bitfit, is_bias
from .compare import METHODS, Task, TuneRun, few_shot, fresh_head, k_per_class, load_task, pet_tune, task_accuracy, tune
from .core import (
    DEFAULT_HEADS,
    ParameterCount,
    count_parameters,
    delta_state_dict,
    freeze_except,
    load_delta,
    replace_linears,
    save_delta,
    tuning_spec,
)
from .lora import LORA_TARGETS, LoRALinear, apply_lora, merge_lora
from .prefix import PrefixBank, PrefixEncoder, PrefixKV, WithPrefix, apply_prefix, attach_prefix_bank, export_prefix
from .prompts import (RULES, Template, Verbalizer, calibrate, causal_label_scores, encode_prompts, label_scores,
                      mlm_label_scores, pet_loss, pet_objective, pet_tensors)
from .soft_prompt import PROMPT_INITS, SoftPrompt, WithSoftPrompt, apply_soft_prompt

__all__ = [
    "AdaptRun",
    "Adapter",
    "DEFAULT_HEADS",
    "HOULSBY",
    "LORA_TARGETS",
    "METHODS",
    "LoRALinear",
    "PFEIFFER",
    "PROMPT_INITS",
    "PrefixBank",
    "PrefixEncoder",
    "PrefixKV",
    "ParameterCount",
    "RULES",
    "SoftPrompt",
    "Task",
    "Template",
    "TuneRun",
    "Verbalizer",
    "WithAdapter",
    "WithPrefix",
    "WithSoftPrompt",
    "adapt",
    "apply_adapters",
    "apply_bitfit",
    "apply_lora",
    "apply_prefix",
    "apply_soft_prompt",
    "attach_prefix_bank",
    "auxiliary_loss",
    "calibrate",
    "causal_label_scores",
    "continue_pretraining",
    "count_parameters",
    "delta_state_dict",
    "encode_prompts",
    "export_prefix",
    "few_shot",
    "fresh_head",
    "freeze_except",
    "is_bias",
    "k_per_class",
    "label_scores",
    "load_delta",
    "load_task",
    "mean_std",
    "merge_lora",
    "mlm_label_scores",
    "pet_loss",
    "pet_objective",
    "pet_tune",
    "pet_tensors",
    "replace_linears",
    "save_delta",
    "separated",
    "task_accuracy",
    "tune",
    "tuning_spec",
]
