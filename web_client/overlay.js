// The skeleton overlay: draws a pose event's keypoints over the <video>, which shows the camera with
// object-fit: contain (the picture is letterboxed inside the element). Which joints are joined, and
// which are the left and right side, comes from the server (`skeleton`: joints, bones, left, right),
// in the first status event of a live session and in an upload's report: no joint numbers here.

const COLOURS = { left: "#4fc3f7", right: "#ffb74d", midline: "#e8eef2" };

export class Overlay {
  constructor(canvas, video) {
    this.canvas = canvas;
    this.video = video;
    this.bones = [];
    this.left = new Set();
    this.right = new Set();
    this.ctx = canvas.getContext("2d");
  }

  set skeleton(skeleton) {
    this.bones = skeleton.bones;
    this.left = new Set(skeleton.left);
    this.right = new Set(skeleton.right);
  }

  _side(joint) {
    if (this.left.has(joint)) return "left";
    return this.right.has(joint) ? "right" : "midline";
  }

  clear() {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  // The rectangle (canvas pixels) where the camera picture is shown.
  _pictureBox(width, height) {
    const rect = this.canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const cw = Math.round(rect.width * ratio);
    const ch = Math.round(rect.height * ratio);
    if (this.canvas.width !== cw || this.canvas.height !== ch) {
      this.canvas.width = cw;
      this.canvas.height = ch;
    }
    const scale = Math.min(cw / width, ch / height);
    return { x: (cw - width * scale) / 2, y: (ch - height * scale) / 2, w: width * scale, h: height * scale };
  }

  draw(event) {
    const box = this._pictureBox(event.width, event.height);
    const ctx = this.ctx;
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!event.keypoints) return;
    const pts = event.keypoints.map(([x, y, c]) => [box.x + x * box.w, box.y + y * box.h, c]);
    ctx.lineWidth = Math.max(2, box.w / 220);
    ctx.lineCap = "round";
    for (const [child, parent] of this.bones) {
      const a = pts[child];
      const b = pts[parent];
      if (a[2] < 0.3 || b[2] < 0.3) continue;
      ctx.strokeStyle = COLOURS[this._side(child)];
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
    }
    ctx.fillStyle = "#33c481";
    for (const [x, y, c] of pts) {
      if (c < 0.3) continue;
      ctx.beginPath();
      ctx.arc(x, y, ctx.lineWidth * 1.3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}
