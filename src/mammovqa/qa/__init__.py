"""Records -> QA items: wordings, seeded option order, grouped splits, prompts, official JSON import/export."""
