// WebRTC for a live session: send the camera (video only) to the server and apply its answer.

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

function iceGatheringComplete(pc, timeoutMs = 3000) {
  // aiortc takes no trickled candidates: the offer must carry them all.
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, timeoutMs);
  });
}

// Connect `stream`'s video track to the session; returns the RTCPeerConnection.
export async function connectCamera(stream, session, onState) {
  const pc = new RTCPeerConnection();
  pc.addEventListener("connectionstatechange", () => onState(pc.connectionState));
  const [track] = stream.getVideoTracks();
  if ("contentHint" in track) track.contentHint = "motion";
  const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
  const vp8 = (RTCRtpSender.getCapabilities?.("video")?.codecs ?? []).filter((c) => /vp8/i.test(c.mimeType));
  if (vp8.length && transceiver.setCodecPreferences) transceiver.setCodecPreferences(vp8);
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc);
  const response = await fetch(session.offer_url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${session.token}` },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
  });
  if (!response.ok) {
    pc.close();
    throw new Error(`the server refused the connection: ${await problem(response)}`);
  }
  const answer = await response.json();
  await pc.setRemoteDescription({ type: answer.type, sdp: withVp8Bitrate(answer.sdp) });
  const params = transceiver.sender.getParameters();
  if (params.encodings?.length) {
    params.encodings[0].maxFramerate = 30;
    params.degradationPreference = "maintain-resolution";
    await transceiver.sender.setParameters(params).catch(() => {});
  }
  return pc;
}

export async function problem(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}
