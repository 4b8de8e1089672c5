"""Original: a language-model head (written for the benchmark)."""

from torch import nn


class CausalHead(nn.Module):
    def __init__(self, config):
        super().__init__(config)
        self.backbone = Backbone(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()
