"""The tiny GPT: causal, padding-safe, and it learns the review language."""

import pytest
import torch

from rung.rlhf.model import GPT, GPTConfig
from rung.rlhf.pretrain import generate, left_pad, pad
from rung.rlhf.tokenizer import WordTokenizer

TOK = WordTokenizer()


def test_tokenizer_round_trip_and_unknown_words(tmp_path):
    text = "the plot was not very good but the ending was great ."
    ids = TOK.encode(text)
    assert ids[0] == TOK.bos_id and ids[-1] == TOK.eos_id and TOK.decode(ids) == text
    assert TOK.encode("the zeppelin", bos=False, eos=False)[1] == TOK.unk_id
    TOK.save(tmp_path)
    assert WordTokenizer.load(tmp_path).encode(text) == ids


def test_a_later_token_never_changes_earlier_outputs_and_padding_changes_nothing():
    torch.manual_seed(0)
    for head in ("lm", "scalar"):
        model = GPT(GPTConfig(vocab_size=len(TOK)), head=head)
        a = torch.tensor([TOK.encode("the movie was good .")])
        b = a.clone()
        b[0, -2] = TOK.ids["bad"]
        out_a, out_b = model(a), model(b)
        assert torch.equal(out_a[:, :-2], out_b[:, :-2]) and not torch.allclose(out_a[:, -2:], out_b[:, -2:])
        ids, mask = pad([TOK.encode("the movie was good ."), TOK.encode("the food was bad but the room was fine .")],
                        TOK.pad_id)
        padded = model(ids, mask)
        alone = model(ids[:1, :mask[0].sum()])
        torch.testing.assert_close(padded[:1, :mask[0].sum()], alone, rtol=1e-5, atol=1e-5)
        assert torch.isfinite(padded).all()


@torch.no_grad()
def generate_without_cache(model, tokenizer, prompt_ids, max_new_tokens, generator):
    """The whole sequence through the model for every new token: what the key/value cache must reproduce."""
    ids, done = prompt_ids, torch.zeros(len(prompt_ids), dtype=torch.bool)
    for _ in range(min(max_new_tokens, model.context - ids.shape[1])):
        logits = model(ids, ids != tokenizer.pad_id)[:, -1]
        logits[:, tokenizer.pad_id] = float("-inf")
        next_ids = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)
        next_ids = torch.where(done, torch.full_like(next_ids, tokenizer.pad_id), next_ids)
        ids = torch.cat([ids, next_ids[:, None]], dim=1)
        done |= next_ids == tokenizer.eos_id
        if done.all():
            break
    return ids


def check_cached_generation(model, tokenizer, prompts: list[str], max_new_tokens: int) -> None:
    """Left-padded prompts of different lengths: the cache's logits equal the full forward's at every
    step, and generation gives the same tokens as without the cache for the same seed."""
    prompt_ids = left_pad([tokenizer.encode(p, eos=False) for p in prompts], tokenizer.pad_id)
    expected = generate_without_cache(model, tokenizer, prompt_ids, max_new_tokens, torch.Generator().manual_seed(3))
    ids = generate(model, tokenizer, prompt_ids, max_new_tokens, generator=torch.Generator().manual_seed(3))
    assert ids.shape[1] > prompt_ids.shape[1] + 3 and torch.equal(ids, expected)
    mask, cache, P = ids != tokenizer.pad_id, None, prompt_ids.shape[1]
    with torch.no_grad():
        full = model(ids, mask)                                                              # [B, T, V]
        for t in range(P, ids.shape[1] + 1):
            new = ids[:, :t] if cache is None else ids[:, t - 1:t]
            logits, cache = model.next_logits(new, mask[:, :t], cache)
            torch.testing.assert_close(logits, full[:, t - 1], rtol=1e-4, atol=1e-4)


def test_generation_with_the_key_value_cache_is_generation_without_it():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(TOK), context=32))
    check_cached_generation(model, TOK, ["the movie", "", "the food was not very"], 24)


def test_bradley_terry_loss_by_hand():
    """−log σ(r_c − r_r): Δ = 0 → log 2; Δ = 2 → log(1 + e^−2). The models that learn the language and
    the preferences are checked on the demo's stages (tests/learning/test_rlhf_learning.py)."""
    from rung.rlhf.reward import bradley_terry_loss

    loss = bradley_terry_loss(torch.tensor([0.0, 3.0]), torch.tensor([0.0, 1.0]))
    assert float(loss) == pytest.approx((0.6931472 + 0.126928) / 2, rel=1e-5)
