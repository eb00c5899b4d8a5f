"""Watching an agent: greedy episodes rendered to a video file.

    rung eval RUN_DIR --video out.mp4 [--episodes N]     # MP4 through imageio-ffmpeg ('rung[video]'), or .gif (Pillow)
    rung train ppo CartPole-v1 --video-every 50000        # RUN_DIR/videos/step-00050000.mp4, ...

One frame per action: the env as the agent saw it when it chose that action, so an episode of length L
is L frames. Each frame carries the episode, the step and the return so far in its top-left corner.
"""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np

from rung.envs import make_env
from rung.errors import RungError

FPS = 30
FORMATS = (".mp4", ".gif")


def render_episodes(agent, episodes: int = 1, seed: int = 0, deterministic: bool = True,
                    max_steps: int | None = None) -> list[dict]:
    """Greedy episodes of `agent` on a fresh copy of its env in rgb_array mode: for each, its frames
    (H × W × 3 uint8, one per action), the return before each action, the return and the length. A
    RungError when the env cannot render."""
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")   # pygame's renderers need no sound device
    try:
        env = make_env(agent.env_id, agent.env_kwargs, render_mode="rgb_array", wrappers=agent.wrappers)
    except Exception as exc:  # an env that takes no render_mode
        raise RungError(f"{agent.env_id} cannot render frames (render_mode='rgb_array' failed: {exc})") from None
    out = []
    try:
        for episode in range(episodes):
            obs, info = env.reset(seed=seed + episode)
            getattr(agent, "begin_episodes", lambda starts: None)(np.ones(1, dtype=bool))
            frames, returns_so_far, total, done = [], [], 0.0, False
            while not done and (max_steps is None or len(frames) < max_steps):
                try:
                    frame = env.render()
                except gym.error.DependencyNotInstalled as exc:
                    raise RungError(f"{agent.env_id} cannot render frames: {exc}") from None
                if not isinstance(frame, np.ndarray) or frame.ndim != 3:
                    raise RungError(f"{agent.env_id} renders no RGB frames in rgb_array mode (got {type(frame).__name__})")
                frames.append(frame)
                returns_so_far.append(total)
                action = agent.act(obs, deterministic=deterministic, action_mask=info.get("action_mask"))
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                done = terminated or truncated
            out.append({"frames": frames, "returns_so_far": returns_so_far, "return": total, "length": len(frames)})
    finally:
        env.close()
    return out


def caption(frames: list[np.ndarray], episode: int, rewards_so_far: list[float] | None = None) -> list[np.ndarray]:
    """The frames with "episode E  step t  return R" (R: the return before step t's action) drawn in
    the top-left corner."""
    from PIL import Image, ImageDraw

    out = []
    for t, frame in enumerate(frames):
        image = Image.fromarray(frame)
        text = f"episode {episode + 1}  step {t + 1}" + (f"  return {rewards_so_far[t]:.4g}" if rewards_so_far else "")
        draw = ImageDraw.Draw(image)
        box = draw.textbbox((4, 4), text)
        draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=(0, 0, 0))
        draw.text((4, 4), text, fill=(255, 255, 255))
        out.append(np.asarray(image))
    return out


def write_video(frames: list[np.ndarray], path: str | Path, fps: int = FPS) -> None:
    """Frames to an .mp4 (H.264 through imageio-ffmpeg's bundled ffmpeg) or a .gif (Pillow)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise RungError(f"--video writes {' or '.join(FORMATS)} files, not {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
        return
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (the ffmpeg binary imageio writes MP4 with)
    except ImportError:
        raise RungError("MP4 needs imageio-ffmpeg: pip install 'rung[video]' (or write a .gif)") from None
    # macro_block_size 2: H.264 in yuv420p needs even sides; frames are padded by at most one pixel
    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=2, ffmpeg_log_level="error") as writer:
        for frame in frames:
            writer.append_data(frame)


def record(agent, path: str | Path, episodes: int = 1, seed: int = 0, deterministic: bool = True) -> list[dict]:
    """Record `episodes` episodes of `agent` into one video file; returns each episode's return, length
    and captioned frames."""
    if Path(path).suffix.lower() not in FORMATS:
        raise RungError(f"--video writes {' or '.join(FORMATS)} files, not {Path(path).name}")
    rendered = render_episodes(agent, episodes, seed, deterministic)
    captioned = [caption(e["frames"], i, e["returns_so_far"]) for i, e in enumerate(rendered)]
    write_video([frame for frames in captioned for frame in frames], path)
    return [{"return": e["return"], "length": e["length"], "frames": frames} for e, frames in zip(rendered, captioned)]


def gif_bytes(frames: list[np.ndarray], width: int) -> tuple[bytes, int]:
    """An animated GIF of every other frame, `width` pixels wide (15 frames a second), and its height:
    for pages and TensorBoard, where a short loop says enough."""
    import io

    from PIL import Image

    images = [Image.fromarray(f) for f in frames[::2]]
    images = [im.resize((width, max(1, round(im.height * width / im.width)))) for im in images]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=66, loop=0)
    return buffer.getvalue(), images[0].height


def tensorboard_gif(writer, tag: str, frames: list[np.ndarray], step: int, width: int = 240) -> None:
    """The frames as an animated GIF in TensorBoard's Images tab (what SummaryWriter.add_video writes,
    without its moviepy dependency)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    gif, height = gif_bytes(frames, width)
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=gif)
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
    writer.flush()


class VideoEvery:
    """The callback behind `rung train --video-every STEPS`: one greedy episode of the live agent recorded
    into RUN_DIR/videos/step-NNNNNNNN.mp4, and as an animated GIF into TensorBoard (tag "video"), at the
    first log point at or past each multiple of `every` (rung.runs.Callbacks runs it with isolated
    random generators: recording changes no training)."""

    def __init__(self, every: int, directory: Path, env_id: str, env_kwargs: dict, wrappers: list[str],
                 suffix: str = ".mp4"):
        self.every, self.directory, self.suffix, self.last = every, Path(directory), suffix, 0
        self.env = (env_id, env_kwargs, wrappers)
        self.writer = None

    def on_log(self, step, metrics, agent):
        if step // self.every != self.last // self.every:
            from torch.utils.tensorboard import SummaryWriter

            agent.env_id, agent.env_kwargs, agent.wrappers = self.env   # as rung.api sets them after training
            episode, = record(agent, self.directory / f"step-{step:08d}{self.suffix}", seed=step)
            self.writer = self.writer or SummaryWriter(str(self.directory.parent / "tb"))
            tensorboard_gif(self.writer, "video", episode["frames"], step)
        self.last = step
