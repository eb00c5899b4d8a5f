"""The GPU check (issue 18): the same code paths at two sizes.

    python benchmarks/gpu.py              # on a machine with CUDA: Atari PPO/DQN, and RLHF PPO with a ≈ 100M GPT-2
    python benchmarks/gpu.py --tiny       # the same paths at toy sizes (what the CPU machines run, so it cannot rot)

Prints one line per job: env steps per second (Atari) or generated tokens per second (RLHF), wall time and
peak memory (CUDA's allocator, or the process's resident set on the CPU). Every job runs on `--device`
(default auto: CUDA when torch sees one; Atari's image observations make it CUDA for PPO and DQN too,
rung.devices). Nothing is downloaded: the GPT-2 is built from a local config with random weights, the tokenizer
is rung's word tokenizer.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB (CUDA)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:,.0f} MiB (process RSS)"


def atari(algo: str, steps: int, device: str, tiny: bool) -> None:
    import rung
    from rung.devices import device_of

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    # tiny: episodes cut at 400 frames (100 steps), so that the final evaluation is not a whole game of Pong
    agent = rung.train(algo, "ALE/Pong-v5", steps=steps, seed=0, eval_episodes=1, eval_every=0, device=device,
                       env_kwargs={"max_num_frames_per_episode": 400} if tiny else None,
                       config={"learning_starts": min(1000, steps // 2)} if algo == "dqn" else {"n_envs": 2, "n_steps": 32})
    seconds = time.perf_counter() - start
    on = device_of(agent.policy if algo == "ppo" else agent.q_net)
    print(f"{algo} ALE/Pong-v5 ({on}): {steps:,} env steps in {seconds:.1f} s = {steps / seconds:,.0f} SPS, "
          f"peak {peak_memory(on)}", flush=True)


def rlhf_ppo(device: torch.device, tiny: bool) -> None:

    import transformers

    from rung.rlhf import hf, ppo
    from rung.rlhf.gold import gold_scores
    from rung.rlhf.tokenizer import WordTokenizer

    tokenizer = WordTokenizer()
    size = dict(n_embd=32, n_layer=2, n_head=2) if tiny else dict(n_embd=768, n_layer=12, n_head=12)   # GPT-2 small
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_positions=64, bos_token_id=tokenizer.bos_id,
                                     eos_token_id=tokenizer.eos_id, **size)
    torch.manual_seed(0)
    with torch.device(device):
        policy = hf.HFCausalLM(transformers.GPT2LMHeadModel(config))
    parameters = sum(p.numel() for p in policy.parameters())
    updates, batch, new_tokens = (2, 8, 8) if tiny else (4, 64, 32)
    settings = ppo.LMPPOConfig(updates=updates, batch_size=batch, minibatch_size=batch // 2, max_new_tokens=new_tokens)
    prompts = ppo.review_prompts(tokenizer)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    _, history = ppo.train(policy, gold_scores, tokenizer, settings, prompt_sampler=lambda rng, n: prompts(rng, n))
    seconds = time.perf_counter() - start
    tokens = updates * batch * new_tokens   # upper bound: responses may end early at <eos>
    print(f"RLHF PPO, GPT-2 of {parameters:,} params ({device}): {updates} updates × {batch} responses × ≤ "
          f"{new_tokens} tokens in {seconds:.1f} s = {tokens / seconds:,.0f} tokens/s (generation and "
          f"training), peak {peak_memory(device)}; last KL {history[-1]['objective/kl']:.3f}", flush=True)


def main() -> None:
    from rung.devices import resolve

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="toy sizes (the CPU check)")
    parser.add_argument("--device", default="auto", help="for the RLHF stage: auto, cpu, cuda, cuda:N")
    args = parser.parse_args()
    device = resolve(args.device)
    atari("ppo", 64 if args.tiny else 100_000, args.device, args.tiny)
    atari("dqn", 64 if args.tiny else 100_000, args.device, args.tiny)
    rlhf_ppo(device, args.tiny)


if __name__ == "__main__":
    main()
