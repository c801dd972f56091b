"""Fine-tuning: the LLaVA-Mammo LoRA recipe, the CPU default (tiny VLM), closed-set baselines."""
