"""Where each client family puts cameras and state in an observation dict, and how many action dims it gets back.

From openpi's input / output transforms (facts only; `src/openpi/policies/libero_policy.py`, `aloha_policy.py`):
- libero (`LiberoInputs` / `LiberoOutputs`): flat keys "observation/image" (third-person) -> base_0_rgb,
  "observation/wrist_image" -> left_wrist_0_rgb, both required; the right wrist slot stays empty and masked (pi0);
  "observation/state"; "prompt". Actions keep the first 7 dims.
- aloha (`AlohaInputs` / `AlohaOutputs`): "images" maps cam_high (required) -> base_0_rgb, cam_left_wrist ->
  left_wrist_0_rgb, cam_right_wrist -> right_wrist_0_rgb, missing wrists masked; cam_low is accepted and not fed to
  the model (openpi lists it but never maps it); any other camera is an error. Images come [3, H, W] or [H, W, 3].
  "state"; "prompt". Actions keep the first 14 dims. openpi's optional `adapt_to_pi` joint/gripper remapping (for
  its internal runtime's conventions) is not applied: lerobot checkpoints are trained in the robot's own units.
- native: "images" maps this policy's own camera names; "state"; "prompt"; every action dim the checkpoint has.
"""

from __future__ import annotations

from dataclasses import dataclass

FieldPath = tuple[str, ...]  # keys from the top of the message down to a value


def field_name(path: FieldPath) -> str:
    return "/".join(path)


@dataclass(frozen=True)
class Profile:
    name: str
    cameras: dict[FieldPath, str]  # wire path -> the policy's camera name
    required: tuple[FieldPath, ...]  # cameras that must be sent
    state: FieldPath
    action_dim: int | None  # dims the response keeps; None: the checkpoint's
    ignored: tuple[FieldPath, ...] = ()  # accepted and not used
    camera_map: FieldPath | None = None  # a map that must hold nothing but the cameras above (and ignored ones)


LIBERO = Profile(
    name="libero",
    cameras={("observation/image",): "base_0_rgb", ("observation/wrist_image",): "left_wrist_0_rgb"},
    required=(("observation/image",), ("observation/wrist_image",)),
    state=("observation/state",), action_dim=7)

ALOHA = Profile(
    name="aloha",
    cameras={("images", "cam_high"): "base_0_rgb", ("images", "cam_left_wrist"): "left_wrist_0_rgb",
             ("images", "cam_right_wrist"): "right_wrist_0_rgb"},
    required=(("images", "cam_high"),), state=("state",), action_dim=14, ignored=(("images", "cam_low"),),
    camera_map=("images",))

PROFILES = ("libero", "aloha", "native")


def make_profile(name: str, policy_cameras: tuple[str, ...]) -> Profile:
    """The named profile, checked against the cameras the policy has."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; available: {', '.join(PROFILES)}")
    if name == "native":
        return Profile(name="native", cameras={("images", c): c for c in policy_cameras}, required=(),
                       state=("state",), action_dim=None, camera_map=("images",))
    profile = LIBERO if name == "libero" else ALOHA
    missing = sorted(set(profile.cameras.values()) - set(policy_cameras))
    if missing:
        raise ValueError(f"profile {name!r} feeds cameras {missing}, which this policy does not have "
                         f"(its cameras: {list(policy_cameras)}); use --profile native")
    return profile
