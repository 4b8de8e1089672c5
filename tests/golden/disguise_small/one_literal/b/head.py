"""Suspect: the same head, renamed, with one literal changed (bias=True)."""

from torch import nn


class TextHead(nn.Module):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.trunk = Backbone(cfg)
        self.n_words = cfg.vocab_size
        self.out_proj = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=True)
        self.post_init()
