import logging
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from PIL import Image

from .layers.encoder import PixelEncoder
from .layers.projection import Projection
from .preprocess import SPEAKER_MARKS, TURN_END, render_dialogue
from .settings import Llama3VSettings

log = logging.getLogger(__name__)


class Llama3V(nn.Module):
    """Llama 3 with eyes: pixel encoder, projection, and a causal LM."""

    def __init__(self, settings: Llama3VSettings, lm: nn.Module):
        super().__init__()
        self.settings, self.lm = settings, lm
        self.projector = Projection(
            n_latents=settings.latent_count,
            width=settings.text_width,
            n_heads=settings.projector_heads,
            media_width=settings.tower.width,
            table_extent=settings.wave_grid,
        )
        self.encoder = PixelEncoder(settings.tower)
        self.stop_ids = [settings.eos_id]

    @property
    def where(self):
        return next(self.parameters()).device

    def embed_inputs(self, batch):
        per_sample = []
        for pics in batch["pixel_values"]:
            if len(pics) == 0:
                per_sample.append(torch.empty(0, self.settings.latent_count, self.settings.text_width))
                continue
            pics = [p.to(self.where, self.projector.latents.dtype) for p in pics]
            feats, grids = self.encoder(pics)
            per_sample.append(self.projector(feats, grids))

        embeds = self.lm.get_input_embeddings()(batch["input_ids"])
        for row, spans in enumerate(batch["image_bound"]):
            if len(spans) == 0:
                continue
            vis = per_sample[row].to(embeds.dtype)
            idx = torch.cat([torch.arange(a, b, device=embeds.device) for a, b in spans.tolist()])
            embeds[row, idx] = vis.reshape(-1, vis.shape[-1])
        return embeds, per_sample

    def forward(self, batch, **extra):
        embeds, _ = self.embed_inputs(batch)
        return self.lm(inputs_embeds=embeds, attention_mask=batch.get("attention_mask"), **extra)

    def _strip_tags(self, raw):
        for mark in (TURN_END, *SPEAKER_MARKS.values()):
            raw = raw.replace(mark, "")
        return raw.strip()

    def _run_generation(
        self, embeds: torch.Tensor, tok, mask: Optional[torch.Tensor] = None, **opts
    ) -> List[str]:
        seqs = self.lm.generate(
            inputs_embeds=embeds,
            attention_mask=mask,
            pad_token_id=self.settings.pad_id,
            eos_token_id=self.stop_ids,
            **opts,
        )
        return [self._strip_tags(tok.decode(s, skip_special_tokens=False)) for s in seqs]

    @torch.inference_mode()
    def answer_batch(self, ids, pixels, spans, tok, mask=None, **opts):
        if len(ids) != len(pixels):
            raise ValueError("input_ids and pixel_values must have the same batch size")
        stacked = nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=self.settings.pad_id)
        batch = {"input_ids": stacked.to(self.where), "pixel_values": pixels, "image_bound": spans}
        embeds, _ = self.embed_inputs(batch)
        return self._run_generation(embeds, tok, mask, **opts)

    def converse(
        self,
        img: Image.Image,
        turns: List[Dict[str, str]],
        tok,
        prep,
        max_new_tokens: int = 1024,
        sample: bool = True,
        **opts,
    ) -> str:
        enc = prep([render_dialogue(turns, marker=self.settings.open_image)], [img])
        if sample:
            decoding = {"do_sample": True, "temperature": 0.7, "top_k": 100, "top_p": 0.8, "repetition_penalty": 1.05}
        else:
            decoding = {"num_beams": 3, "repetition_penalty": 1.2}
        decoding.update(opts)
        return self.answer_batch(
            enc["input_ids"],
            enc["pixel_values"],
            enc["image_bound"],
            tok,
            max_new_tokens=max_new_tokens,
            **decoding,
        )[0]
