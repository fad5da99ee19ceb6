// WebRTC for a live session: send the camera (video only) to the server and apply its answer.
// A refused or failed offer throws net.js's ApiError (what happened, what to do); an AbortSignal
// (the page's Stop) cancels the connection at any step and closes the peer connection.

import { ApiError, detailOf } from "./net.js";

// aiortc sends only REMB feedback, so Chromium's VP8 bitrate ramps up slowly and may fall back to a
// lower resolution. Raising the bitrate bounds on the VP8 fmtp line of the answer we apply fixes it
// (measured in ../shared/ENVIRONMENT.md: 1-3.4 Mbit/s at full resolution instead of 0.2-0.6).
export const VP8_BITRATE_HINT = "x-google-min-bitrate=1500;x-google-start-bitrate=1500;x-google-max-bitrate=4500";

export function withVp8Bitrate(sdp, hint = VP8_BITRATE_HINT) {
  const lines = sdp.split("\r\n");
  const payloads = lines
    .map((line) => line.match(/^a=rtpmap:(\d+) VP8\/90000/i))
    .filter(Boolean)
    .map((m) => m[1]);
  for (const pt of payloads) {
    const fmtp = lines.findIndex((line) => line.startsWith(`a=fmtp:${pt} `));
    if (fmtp >= 0) {
      if (!lines[fmtp].includes("x-google-start-bitrate")) lines[fmtp] += `;${hint}`;
    } else {
      const rtpmap = lines.findIndex((line) => line.startsWith(`a=rtpmap:${pt} `));
      lines.splice(rtpmap + 1, 0, `a=fmtp:${pt} ${hint}`);
    }
  }
  return lines.join("\r\n");
}

function iceGatheringComplete(pc, signal, timeoutMs = 3000) {
  // aiortc takes no trickled candidates: the offer must carry them all.
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
    setTimeout(resolve, timeoutMs);
  });
}

// Connect `stream`'s video track to the session; returns the RTCPeerConnection. `signal` aborts it.
export async function connectCamera(stream, session, onState, { signal } = {}) {
  const pc = new RTCPeerConnection();
  try {
    signal?.throwIfAborted();
    pc.addEventListener("connectionstatechange", () => onState(pc.connectionState));
    const [track] = stream.getVideoTracks();
    if ("contentHint" in track) track.contentHint = "motion";
    const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    const vp8 = (RTCRtpSender.getCapabilities?.("video")?.codecs ?? []).filter((c) => /vp8/i.test(c.mimeType));
    if (vp8.length && transceiver.setCodecPreferences) transceiver.setCodecPreferences(vp8);
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringComplete(pc, signal);
    await sendOffer(pc, session, signal);
    signal?.throwIfAborted();
    await tuneSender(transceiver);
    return pc;
  } catch (error) {
    pc.close();
    throw error;
  }
}

async function sendOffer(pc, session, signal) {
  let response;
  try {
    response = await fetch(session.offer_url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${session.token}` },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("The video connection could not be offered: the coach server did not answer.", {
      advice: "Check that the coach server is running and that this device is online, then press Start again.",
      url: session.offer_url,
    });
  }
  if (!response.ok) {
    throw new ApiError(`The server refused the video connection: ${await detailOf(response)}`, {
      status: response.status,
      advice: response.status === 404 || response.status === 409
        ? "The session ended or expired before the camera connected: press Start again."
        : "Press Start again; if it fails again, reload the page.",
      url: session.offer_url,
    });
  }
  const answer = await response.json();
  await pc.setRemoteDescription({ type: answer.type, sdp: withVp8Bitrate(answer.sdp) });
}

async function tuneSender(transceiver) {
  const params = transceiver.sender.getParameters();
  if (params.encodings?.length) {
    params.encodings[0].maxFramerate = 30;
    params.degradationPreference = "maintain-resolution";
    await transceiver.sender.setParameters(params).catch(() => {});
  }
}

export async function problem(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}
