"""Request and response bodies of the HTTP API (they make the OpenAPI document at /docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str = Field(description="`ok` while the inference loop runs, `degraded` otherwise")
    backend: str = Field(description="2D pose backend")
    backend_device: str = Field(description="Where the 2D backend runs")
    lifter: str = Field(description="2D->3D lifter")
    lifter_reason: str = Field(
        description="Which lifter source is active and why, e.g. `mediapipe-world: no PoseFormerV2 checkpoint found` "
        "or `ours: ... measured better than MediaPipe's world landmarks on the accuracy benchmark (...)`"
    )
    lifter_device: str = Field(description="Where the lifter runs")
    receptive_field: int = Field(description="Frames the lifter looks at per pose")
    lookahead_frames: int = Field(description="Future frames live mode waits for before lifting a frame")
    node: str | None = Field(
        None, description="This server's `node_name` behind a load balancer (its session ids start with it); null alone"
    )
    sessions: int = Field(description="Live sessions now")
    max_sessions: int = Field(description="Live sessions served at once")
    tips: dict[str, str] = Field(description="Who writes tip text: `backend` templates or transformers, its model")
    persona_errors: dict[str, str] = Field(description="Persona files left out, with the reason")
    gpu_memory_mb: dict[str, float] | None = Field(
        None,
        description="CUDA memory of this process on the models' GPU, MB: `allocated` now, `peak` since start, "
        "`total` on the device; null without a GPU. It grows with the live sessions' batch (one frame each a "
        "step, at most `max_sessions`) and the uploads' 16-frame batches",
    )


class Exercise(BaseModel):
    name: str = Field(description="Id used in requests")
    display_name: str
    camera: str = Field(description="How to film it")
    body_parts: list[str] = Field(description="Scored body parts")
    faults: list[str] = Field(description="Ids of the faults it names")
    custom: bool = Field(False, description="Built by a user from a video (can be renamed, edited, deleted)")
    kind: str = Field("reps", description="reps (counted repetitions) or hold (time under tension, e.g. a plank)")
    target_s: float | None = Field(None, description="A hold's target time, seconds (null: none, or reps)")
    reference: str | None = Field(
        None,
        description="video (calibrated from a video of good reps) or authored (keyframe angles on a standard "
        "skeleton); null: not built yet",
    )


class PersonaInfo(BaseModel):
    id: str = Field(description="Id used in requests (the persona file's name)")
    name: str = Field(description="Display name")
    description: str = Field(description="How it speaks")
    emoji: str = Field(description="Emoji policy: never, sometimes, always")


class SessionRequest(BaseModel):
    exercise: str = Field(description="An exercise name from GET /api/exercises", examples=["pushup"])
    persona: str = Field("plain", description="A persona id from GET /api/personas")


class SessionCreated(BaseModel):
    id: str = Field(description="Session id (in URLs)")
    token: str = Field(description="Secret: `Authorization: Bearer <token>` on the offer, `?token=` on the WebSocket")
    exercise: str
    persona: str
    offer_url: str
    events_url: str = Field(description="WebSocket path for this session's events")
    delay_frames: int = Field(description="Frames of lookahead before a frame reaches the rep counter")


class SessionDescription(BaseModel):
    sdp: str = Field(description="Session description (SDP text)")
    type: str = Field(description="`offer` in requests, `answer` in responses")


class SessionInfo(BaseModel):
    """State and statistics of a live session."""

    model_config = {"extra": "allow"}

    id: str
    exercise: str
    persona: str
    state: str = Field(description="created | connecting | live | ending | closed")
    end_reason: str | None
    frames_received: int
    frames_processed: int
    frames_dropped: int
    fps: float
    pose_latency_ms: dict[str, Any] = Field(description="Frame arrival -> pose event sent: p50, p95, max, count")
    rep_latency_ms: dict[str, Any] = Field(description="Arrival of a rep's last frame -> rep event sent")


class Problem(BaseModel):
    detail: str = Field(description="What went wrong and what to do")
