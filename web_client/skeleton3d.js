// A 3D view of H36M-17 skeletons (three.js, vendored in vendor/three/): the user's lifted pose and,
// optionally, the reference's, drawn as bones (cylinders) and joints (spheres) in one scene that the
// user can rotate (drag), zoom (wheel or pinch) and pan (right drag or two fingers). Poses are
// root-relative metres in camera axes (x right, y down, z forward; lifting/types.py Pose3D): the view
// turns y up and looks at the person from the camera's side, with a floor grid under the feet.
//
//   const view = new Skeleton3D(container, skeleton);   // skeleton: {bones, left, right} from the server
//   view.setPose("user", joints);                      // joints: 17 [x, y, z] or null (hides it)
//   view.setPose("reference", joints);                 // the second figure (dashed colours)
//   view.dispose();
//
// Rendering happens on demand (a pose or a camera move), never in a busy loop. Each skeleton's root sits
// at the origin; the reference is drawn at the same place so the two can be compared limb by limb.
// Without WebGL the container says so instead.

import * as THREE from "./vendor/three/three.module.js";
import { OrbitControls } from "./vendor/three/OrbitControls.js";

const COLOURS = {
  user: { left: 0x4fc3ff, right: 0xff8a65, middle: 0xe8eef2 },
  reference: { left: 0x7c8cff, right: 0x7c8cff, middle: 0x7c8cff },
};

function side(skeleton, joint) {
  if (skeleton.left.includes(joint)) return "left";
  if (skeleton.right.includes(joint)) return "right";
  return "middle";
}

class Figure {
  constructor(scene, skeleton, colours, opacity) {
    this.skeleton = skeleton;
    this.group = new THREE.Group();
    this.group.visible = false;
    scene.add(this.group);
    const material = (colour) =>
      new THREE.MeshStandardMaterial({ color: colour, roughness: 0.6, transparent: opacity < 1, opacity });
    const materials = Object.fromEntries(Object.entries(colours).map(([k, c]) => [k, material(c)]));
    const boneGeometry = new THREE.CylinderGeometry(0.022, 0.022, 1, 10);
    boneGeometry.translate(0, 0.5, 0); // from its base: scaled to the bone's length
    const jointGeometry = new THREE.SphereGeometry(0.034, 12, 8);
    this.bones = skeleton.bones.map(([child]) => {
      const mesh = new THREE.Mesh(boneGeometry, materials[side(skeleton, child)]);
      this.group.add(mesh);
      return mesh;
    });
    this.joints = skeleton.joints.map((_, j) => {
      const mesh = new THREE.Mesh(jointGeometry, materials[side(skeleton, j)]);
      this.group.add(mesh);
      return mesh;
    });
    this.geometries = [boneGeometry, jointGeometry];
    this.materials = Object.values(materials);
  }

  set(joints) {
    const ok = Array.isArray(joints) && joints.length === this.joints.length && joints.every(valid);
    this.group.visible = ok;
    if (!ok) return false;
    const points = joints.map(([x, y, z]) => new THREE.Vector3(x, -y, -z)); // y up, facing the camera
    points.forEach((p, j) => this.joints[j].position.copy(p));
    const up = new THREE.Vector3(0, 1, 0);
    this.skeleton.bones.forEach(([child, parent], b) => {
      const mesh = this.bones[b];
      const from = points[parent];
      const along = new THREE.Vector3().subVectors(points[child], from);
      const length = along.length();
      mesh.visible = length > 1e-4;
      if (!mesh.visible) return;
      mesh.position.copy(from);
      mesh.scale.set(1, length, 1);
      mesh.quaternion.setFromUnitVectors(up, along.divideScalar(length));
    });
    return true;
  }

  dispose() {
    this.geometries.forEach((g) => g.dispose());
    this.materials.forEach((m) => m.dispose());
  }
}

function valid(point) {
  return Array.isArray(point) && point.length >= 3 && point.slice(0, 3).every((v) => typeof v === "number" && Number.isFinite(v));
}

export function webglAvailable() {
  try {
    const canvas = document.createElement("canvas");
    return Boolean(canvas.getContext("webgl2") || canvas.getContext("webgl"));
  } catch {
    return false;
  }
}

export class Skeleton3D {
  constructor(container, skeleton, { label = "3D view of your pose: drag to turn, wheel or pinch to zoom" } = {}) {
    this.container = container;
    this.skeleton = skeleton;
    this.figures = {};
    this.available = webglAvailable();
    if (!this.available) {
      container.replaceChildren(Object.assign(document.createElement("p"), {
        className: "muted",
        textContent: "The 3D view needs WebGL, which this browser has turned off.",
      }));
      return;
    }
    this.renderer = new THREE.WebGLRenderer({ antialias: true, alpha: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    const canvas = this.renderer.domElement;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", label);
    canvas.tabIndex = 0; // OrbitControls listens to the arrow keys once focused
    container.replaceChildren(canvas);

    this.scene = new THREE.Scene();
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x334455, 2.2));
    const light = new THREE.DirectionalLight(0xffffff, 1.5);
    light.position.set(2, 3, 2);
    this.scene.add(light);
    const grid = new THREE.GridHelper(3, 12, 0x3a4650, 0x26313a);
    grid.position.y = -0.95; // about where the feet of a standing adult are, root at the pelvis
    this.scene.add(grid);
    this.grid = grid;

    this.camera = new THREE.PerspectiveCamera(40, 1, 0.05, 50);
    this.camera.position.set(1.6, 0.6, 3.2);
    this.controls = new OrbitControls(this.camera, canvas);
    this.controls.target.set(0, 0, 0);
    this.controls.enableDamping = false;
    this.controls.minDistance = 1;
    this.controls.maxDistance = 10;
    this.controls.listenToKeyEvents(canvas);
    this.controls.addEventListener("change", () => this.render());
    this.controls.update();

    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(container);
    this.resize();
  }

  figure(name) {
    if (!this.figures[name]) {
      const colours = COLOURS[name] || COLOURS.reference;
      this.figures[name] = new Figure(this.scene, this.skeleton, colours, name === "user" ? 1 : 0.55);
    }
    return this.figures[name];
  }

  /** Show ``joints`` (17 [x, y, z], metres, root-relative) as figure ``name``; null hides it. */
  setPose(name, joints) {
    if (!this.available) return false;
    const shown = this.figure(name).set(joints);
    if (shown && name === "user") {
      const lowest = Math.max(...joints.map((p) => p[1])); // y down: the largest y is the lowest point
      this.grid.position.y = -lowest - 0.02;
    }
    this.scheduleRender();
    return shown;
  }

  scheduleRender() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.render();
    });
  }

  resize() {
    if (!this.available) return;
    const width = Math.max(1, this.container.clientWidth);
    const height = Math.max(1, this.container.clientHeight || Math.round(width * 0.75));
    this.renderer.setSize(width, height, false);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.render();
  }

  render() {
    if (this.available) this.renderer.render(this.scene, this.camera);
  }

  dispose() {
    if (!this.available) return;
    cancelAnimationFrame(this.pending);
    this.resizeObserver.disconnect();
    this.controls.dispose();
    Object.values(this.figures).forEach((f) => f.dispose());
    this.renderer.dispose();
    this.container.replaceChildren();
  }
}
