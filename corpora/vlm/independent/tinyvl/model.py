"""TinyVL: ViT -> bridge -> a decoder-only LM, joined by masked_scatter on image-token ids."""

import torch
from torch import nn

from tinyvl.qformer import make_bridge
from tinyvl.template import Conversation, expand_image_slots
from tinyvl.tiling import image_to_tiles
from tinyvl.vision import ViT


class TinyVL(nn.Module):
    def __init__(self, cfg, lm, tokenizer):
        super().__init__()
        self.cfg = cfg
        self.vit = ViT(cfg)
        self.bridge = make_bridge(cfg)
        self.lm = lm
        self.tok = tokenizer

    # -- images -------------------------------------------------------------------------

    def tiles_for(self, images):
        """Each PIL image -> its tile stack; also returns how many tiles each one has."""
        stacks = [
            image_to_tiles(im, self.cfg.tile, self.cfg.max_tiles, self.cfg.add_thumbnail)[0] for im in images
        ]
        return stacks, [s.shape[0] for s in stacks]

    def image_tokens(self, images):
        """List of (tokens_i, text_dim) tensors, one per image, tiles concatenated."""
        if not images:
            return []
        stacks, counts = self.tiles_for(images)
        param = next(self.vit.parameters())
        feats = self.vit(torch.cat(stacks).to(param.device, param.dtype))
        per_tile = self.bridge(feats)
        return list(torch.split(per_tile.flatten(0, 1), [c * per_tile.shape[1] for c in counts]))

    # -- text ---------------------------------------------------------------------------------

    def embed(self, input_ids, image_feats):
        table = self.lm.get_input_embeddings()
        slots = input_ids == self.cfg.image_token_id
        safe_ids = input_ids.masked_fill(slots, 0)
        embeds = table(safe_ids)
        if image_feats:
            flat = torch.cat(image_feats).to(embeds.dtype)
            if int(slots.sum()) != flat.shape[0]:
                raise ValueError(f"{int(slots.sum())} image slots for {flat.shape[0]} image tokens")
            embeds = embeds.masked_scatter(slots.unsqueeze(-1), flat)
        return embeds

    def prepare(self, conversation, images):
        feats = self.image_tokens(images)
        ids = self.tok(conversation.render(), add_special_tokens=False)["input_ids"]
        ids = expand_image_slots(ids, self.cfg.image_token_id, [f.shape[0] for f in feats])
        device = self.lm.get_input_embeddings().weight.device
        return torch.tensor([ids], device=device), feats

    def forward(self, input_ids, images=None, attention_mask=None, labels=None):
        feats = self.image_tokens(images or [])
        embeds = self.embed(input_ids, feats)
        return self.lm(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels)

    # -- decoding ---------------------------------------------------------------------------

    @staticmethod
    def nucleus(logits, top_p, temperature):
        if temperature <= 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits / temperature, dim=-1)
        sorted_p, order = probs.sort(dim=-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p
        sorted_p = sorted_p * keep
        pick = torch.multinomial(sorted_p / sorted_p.sum(-1, keepdim=True), 1)
        return order.gather(-1, pick).squeeze(-1)

    @torch.no_grad()
    def reply(self, question, images=(), max_tokens=256, top_p=0.9, temperature=0.0, history=None):
        """Answer one user turn; greedy unless a temperature is given. Uses the LM's KV cache."""
        conv = history or Conversation()
        conv.user(question, n_images=len(images))
        ids, feats = self.prepare(conv, list(images))
        out = self.lm(inputs_embeds=self.embed(ids, feats), use_cache=True)
        cache, logits = out.past_key_values, out.logits[:, -1]
        produced = []
        for _ in range(max_tokens):
            nxt = self.nucleus(logits, top_p, temperature)
            if int(nxt) == self.cfg.eos_id:
                break
            produced.append(int(nxt))
            step = self.lm.get_input_embeddings()(nxt[:, None])
            out = self.lm(inputs_embeds=step, past_key_values=cache, use_cache=True)
            cache, logits = out.past_key_values, out.logits[:, -1]
        answer = self.tok.decode(produced, skip_special_tokens=True).strip()
        conv.assistant(answer)
        return answer, conv

    def freeze(self, vit=True, lm=True):
        for module, flag in ((self.vit, vit), (self.lm, lm)):
            for p in module.parameters():
                p.requires_grad = not flag
        return self
