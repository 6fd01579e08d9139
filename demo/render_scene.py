"""Renders the demo's camera images: a table top with a red cube, a blue bowl and a green block, seen from the base
camera and the two wrist cameras. A simple pinhole projection of a few boxes, drawn with Pillow.

    .venv/bin/python -m demo.render_scene       # rewrites demo/images/*.png
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

IMAGES = Path(__file__).resolve().parent / "images"
SIZE = (320, 240)  # not the model's 224 x 224: the demo exercises resize-with-pad

# (center xyz in metres, half extents xyz, RGB); the table top is z = 0
OBJECTS = [
    ((0.0, 0.0, -0.02), (0.6, 0.4, 0.02), (150, 111, 71)),
    ((-0.15, 0.05, 0.03), (0.03, 0.03, 0.03), (200, 30, 30)),
    ((0.12, -0.08, 0.025), (0.07, 0.07, 0.025), (40, 70, 190)),
    ((0.2, 0.15, 0.04), (0.02, 0.05, 0.04), (40, 160, 60)),
]
# camera position and the point it looks at
CAMERAS = {
    "base_0_rgb": ((0.0, -0.75, 0.55), (0.0, 0.0, 0.0)),
    "left_wrist_0_rgb": ((-0.3, -0.15, 0.3), (-0.12, 0.05, 0.0)),
    "right_wrist_0_rgb": ((0.35, -0.1, 0.28), (0.12, -0.05, 0.0)),
}
FACES = [(0, 1, 3, 2), (4, 5, 7, 6), (0, 1, 5, 4), (2, 3, 7, 6), (0, 2, 6, 4), (1, 3, 7, 5)]
LIGHT = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(right, forward), forward])  # rows: camera x (right), y (up), z (forward)


def _corners(center, half) -> np.ndarray:
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    return np.asarray(center) + signs * np.asarray(half)


NEAR = 0.01


def _clip_near(points: np.ndarray) -> np.ndarray:
    """Clip a convex camera-space polygon to z >= NEAR (Sutherland-Hodgman against one plane)."""
    kept = []
    for a, b in zip(points, np.roll(points, -1, axis=0)):
        if a[2] >= NEAR:
            kept.append(a)
        if (a[2] >= NEAR) != (b[2] >= NEAR):
            kept.append(a + (b - a) * (NEAR - a[2]) / (b[2] - a[2]))
    return np.array(kept)


def render(eye, target) -> Image.Image:
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    rotation = _look_at(eye, target)
    focal = SIZE[0] / (2 * math.tan(math.radians(30)))
    image = Image.new("RGB", SIZE, (205, 215, 225))
    draw = ImageDraw.Draw(image)
    table, *items = OBJECTS
    items.sort(key=lambda obj: -np.linalg.norm(np.asarray(obj[0]) - eye))  # far objects first
    for center, half, color in [table, *items]:
        camera_points = (_corners(center, half) - eye) @ rotation.T
        polygons = []
        for face in FACES:
            pts = _clip_near(camera_points[list(face)])
            if len(pts) < 3:
                continue
            world = _corners(center, half)[list(face)]
            normal = np.cross(world[1] - world[0], world[2] - world[0])
            normal /= np.linalg.norm(normal)
            if np.dot(normal, world.mean(0) - np.asarray(center)) < 0:
                normal = -normal
            if np.dot(normal, eye - world.mean(0)) <= 0:
                continue  # back face
            shade = 0.45 + 0.55 * max(0.0, float(np.dot(normal, LIGHT)))
            xy = [(SIZE[0] / 2 + focal * p[0] / p[2], SIZE[1] / 2 - focal * p[1] / p[2]) for p in pts]
            polygons.append((pts[:, 2].mean(), xy, tuple(int(c * shade) for c in color)))
        for _, xy, shaded in sorted(polygons, key=lambda p: -p[0]):  # painter's algorithm within the box
            draw.polygon(xy, fill=shaded)
    return image


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    for name, (eye, target) in CAMERAS.items():
        render(eye, target).save(IMAGES / f"{name}.png", optimize=True)


if __name__ == "__main__":
    main()
