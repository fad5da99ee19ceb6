"""The one typed settings object, loaded and validated once at start-up, then passed down.

Values come from the command line (through the CLI), from ``COACH_*`` environment variables, or
from the defaults below. Library code never reads the environment itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The repository root (the project is installed in editable mode)."""


class Settings(BaseSettings):
    """Everything configurable about the coach."""

    # hide_input_in_errors: a bad value is never echoed into a validation error's text (database_url
    # carries a password; the messages name the setting and the rule instead)
    model_config = SettingsConfigDict(env_prefix="COACH_", extra="forbid", frozen=True, hide_input_in_errors=True)

    checkpoints_dir: Path = Field(PROJECT_ROOT / "checkpoints", description="Folder holding weight files")
    references_dir: Path = Field(PROJECT_ROOT / "references", description="Folder of reference exercises")
    backend: Literal["mediapipe", "yolo-hrnet"] = Field(
        "mediapipe",
        description="2D pose backend: the embedded BlazePose, or YOLOv3 + HRNet-W48 (their weights in checkpoints_dir)",
    )
    lifter: Literal["auto", "poseformerv2", "ours", "mediapipe-world"] = Field(
        "auto",
        description="2D->3D lifter: auto = the official PoseFormerV2 checkpoint when present, else our shipped "
        "checkpoint when it measured better than MediaPipe's world landmarks (its manifest verdict), else "
        "mediapipe-world; ours = our shipped checkpoint whatever its verdict",
    )
    device: str = Field("auto", description="Torch device for the lifter: auto, cpu, cuda, cuda:N")
    precision: Literal["float32", "float16", "bfloat16"] = Field(
        "float32",
        description="Arithmetic of the yolo-hrnet networks (half precision: torch.autocast, meant for CUDA; "
        "float32 keeps the official numbers)",
    )
    max_people: int = Field(
        2,
        ge=1,
        le=4,
        description="People looked for in an analysed video; the coach follows the one exercising "
        "(each more costs one more 2D model run a frame: 23 -> 37 ms on 2 CPU cores)",
    )
    live_max_people: int = Field(
        1, ge=1, le=4, description="The same for live sessions (1 keeps 30 fps on 2 CPU cores; 2 needs more)"
    )
    max_side: int | None = Field(
        640, ge=16, description="Frames are downscaled to this longer side before 2D inference (None: keep)"
    )
    web_dir: Path = Field(PROJECT_ROOT / "web_client", description="Folder of the browser app the server serves")
    host: str = Field("127.0.0.1", description="Address `coach serve` listens on")
    port: int = Field(8000, ge=1, le=65535, description="Port `coach serve` listens on")
    max_sessions: int = Field(4, ge=1, le=64, description="Live sessions served at once; more get 503")
    node_name: str | None = Field(
        None,
        description="This server's name among several behind a load balancer (1-16 lowercase letters and digits, "
        "starting with a letter; unique per server): its live session ids start with it (n1-...), so the balancer "
        "routes a session's requests to it, and it marks its own sets lost by a crash as ended when it starts",
    )
    pose_workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Threads running live sessions' 2D models side by side (None: one per CPU core)",
    )
    lookahead_frames: int = Field(
        13, ge=0, description="Future frames the lifter waits for in live mode (clipped to the lifter's maximum)"
    )
    offer_timeout_s: float = Field(60.0, gt=0, description="A session without a WebRTC offer this long is ended")
    idle_timeout_s: float = Field(10.0, gt=0, description="A live session without a frame this long is ended")
    data_dir: Path = Field(PROJECT_ROOT / "data", description="Folder of the SQLite database and stored uploads")
    database_url: str | None = Field(
        None,
        repr=False,  # it may carry a password: never in a repr or a log line
        description="The store's database: sqlite:///FILE or postgresql+psycopg://user:password@host:5432/name "
        "(one PostgreSQL database shared by every server of a deployment; None: SQLite at data_dir/coach.sqlite3)",
    )
    uploads_dir: Path = Field(
        default_factory=lambda data: data.get("data_dir", PROJECT_ROOT / "data") / "uploads",
        description="Folder of stored uploads (videos kept under names the server chooses); with several servers, "
        "one folder every server reaches (a shared mount). Default: data_dir/uploads",
    )
    custom_exercises_dir: Path | None = Field(
        None,
        description="Folder of the custom exercises users build from their own videos (None: data_dir/exercises); "
        "kept apart from the shipped references_dir, whose names they cannot take",
    )
    max_upload_mb: float = Field(200.0, gt=0, description="Largest video upload, megabytes")
    max_video_s: float = Field(600.0, gt=0, description="Longest video accepted for analysis, seconds")
    job_workers: int = Field(1, ge=1, le=16, description="Uploaded videos analysed at once")
    max_queued_jobs: int = Field(8, ge=1, description="Uploads waiting or running at most; more get 503")
    jobs_backend: Literal["local", "ray"] = Field(
        "local",
        description="Where uploads are analysed: this server's pool of job_workers threads, or actors on a Ray "
        "cluster (ray_address; one job per actor at a time)",
    )
    ray_address: str | None = Field(
        None,
        description="The Ray cluster of jobs_backend=ray and `coach analyze-many`: host:port of its head (`ray start "
        "--head` prints it), ray://host:port (Ray Client) or auto; None: start a local Ray of ray_cpus CPUs",
    )
    ray_cpus: int | None = Field(None, ge=1, description="CPUs of a local Ray started by the coach (None: every core)")
    ray_actors: int | None = Field(
        None,
        ge=1,
        description="Analysis actors holding the models (None: one per GPU when the cluster has GPUs, else one per "
        "ray_cpus_per_actor CPUs)",
    )
    ray_cpus_per_actor: float = Field(1.0, gt=0, description="CPUs each analysis actor reserves")
    ray_gpus_per_actor: float | None = Field(
        None, ge=0, description="GPUs each analysis actor reserves (None: 1 when the cluster has GPUs, else 0)"
    )
    personas_dir: Path = Field(
        PROJECT_ROOT / "scoring" / "coach" / "personas",
        description="Folder of persona files (one .toml per coach voice)",
    )
    tips_backend: Literal["templates", "transformers"] = Field(
        "templates", description="Who writes tip text: the personas' templates, or a local language model"
    )
    tips_model: Path | None = Field(
        None, description="Folder of a local causal LM (transformers format) for tips_backend=transformers"
    )
    tips_prompt: Literal["auto", "chat", "persona"] = Field(
        "auto", description="Prompt format: chat template, or the seed's <|persona|>..<|output|> (auto: by tokenizer)"
    )
    tips_device: str = Field("auto", description="Torch device of the tip model: auto, cpu, cuda, cuda:N")
    tips_budget_s: float = Field(
        1.5, gt=0, le=30, description="Longest wait for the model's tip before the template is used, seconds"
    )
    tip_cooldown_s: float = Field(5.0, ge=0, description="Least time between two tips (safety faults skip it)")
    tips_seed: int = Field(0, description="Seed of the template choice and the model's sampling")
    upload_retention_h: float = Field(
        24.0, ge=0, description="Hours an analysed upload is kept (for the overlay player) before it is deleted"
    )
    auth: Literal["single", "accounts"] = Field(
        "single",
        description="single: one local user, nothing to set up (loopback only unless allow_open_single); "
        "accounts: users made with `coach users add`, signed in on the page or with a personal token",
    )
    allow_open_single: bool = Field(
        False, description="Serve auth=single on a non-loopback address anyway (everyone reaching it is one user)"
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        description="Host headers served (DNS rebinding defence); the --host address is added; '*' allows any",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Other origins (scheme://host:port) whose pages may call the API; the page's own always may",
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Addresses (or '*') of load balancers whose X-Forwarded-For / X-Forwarded-Proto headers are "
        "believed: the client's own address then counts for rate limits and logs",
    )
    max_json_kb: float = Field(64.0, gt=0, le=4096, description="Largest JSON request body, kilobytes")
    max_ws_message_bytes: int = Field(4096, ge=256, le=1 << 20, description="Largest WebSocket command, bytes")
    max_video_side: int = Field(4096, ge=64, description="Largest width or height of an uploaded video, pixels")
    session_cookie_hours: float = Field(12.0, gt=0, description="How long a sign-in lasts (auth=accounts)")
    sessions_per_minute: int = Field(
        10, ge=1, description="Live sessions one user or address may start a minute; more get 429"
    )
    uploads_per_minute: int = Field(10, ge=1, description="Uploads one user or address may send a minute")
    logins_per_minute: int = Field(10, ge=1, description="Sign-in attempts one address may make a minute")

    @property
    def database_path(self) -> Path:
        """The SQLite file of jobs and session history when ``database_url`` is not set."""
        return self.data_dir / "coach.sqlite3"

    @property
    def database(self) -> str | Path:
        """What the store opens (``server.jobs.store.Store``): ``database_url``, else ``database_path``."""
        return self.database_url if self.database_url is not None else self.database_path

    @property
    def custom_dir(self) -> Path:
        """Where custom exercises live (``custom_exercises_dir``, by default ``data_dir/exercises``)."""
        return self.custom_exercises_dir or self.data_dir / "exercises"

    @property
    def drafts_dir(self) -> Path:
        """Videos of custom exercises being built, with their poses and thumbnails."""
        return self.data_dir / "drafts"

    @field_validator("device", "tips_device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if value not in ("auto", "cpu", "cuda") and not (value.startswith("cuda:") and value[5:].isdigit()):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {value!r}")
        return value

    @field_validator("node_name")
    @classmethod
    def _check_node_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z][a-z0-9]{0,15}", value):
            raise ValueError(
                f"node_name must be 1-16 lowercase letters and digits starting with a letter (e.g. n1), got {value!r}"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from server.jobs.database import database_url  # SQLAlchemy only when a URL is set

        return database_url(value).render_as_string(hide_password=False)  # ValueError never shows the password

    @field_validator(
        "checkpoints_dir",
        "references_dir",
        "web_dir",
        "data_dir",
        "uploads_dir",
        "personas_dir",
        "tips_model",
        "custom_exercises_dir",
    )
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None
