"""Blender side of the hiprom renderer (runs inside `blender -b -P blender_scene.py -- job.json`).

Deliberately dumb: it builds the scene described by job.json (written by synth/render.py),
then for every pre-computed vertex array (float32 .bin, produced by numpy skinning on the host)
replaces the body mesh coordinates and renders one PNG. No numpy needed inside Blender.
"""

import array
import json
import math
import os
import sys
import time

import bpy
from mathutils import Matrix, Vector

argv = sys.argv[sys.argv.index("--") + 1 :]
job = json.load(open(argv[0]))


def clear_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)


def principled(
    name,
    color,
    rough=0.6,
    sss=0.0,
    sss_color=None,
    spec=0.3,
    noise=None,
    sheen=0.0,
    emission=None,
    emission_strength=0.0,
):
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    nt = m.node_tree
    bsdf = nt.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*color, 1.0)
    bsdf.inputs["Roughness"].default_value = rough
    bsdf.inputs["Specular"].default_value = spec
    bsdf.inputs["Sheen"].default_value = sheen
    if emission is not None:  # v2 sets: a window that glows
        bsdf.inputs["Emission"].default_value = (*emission, 1.0)
        bsdf.inputs["Emission Strength"].default_value = emission_strength
    if sss > 0:
        bsdf.inputs["Subsurface"].default_value = sss
        bsdf.inputs["Subsurface Color"].default_value = (*(sss_color or color), 1.0)
        bsdf.inputs["Subsurface Radius"].default_value = (0.9, 0.35, 0.2)
    if noise:  # subtle colour variation (fabric / skin blotches / floor)
        tex = nt.nodes.new("ShaderNodeTexNoise")
        tex.inputs["Scale"].default_value = noise.get("scale", 40.0)
        tex.inputs["Detail"].default_value = noise.get("detail", 4.0)
        ramp = nt.nodes.new("ShaderNodeValToRGB")
        c2 = noise.get("color2", [c * 0.8 for c in color])
        ramp.color_ramp.elements[0].color = (*c2, 1.0)
        ramp.color_ramp.elements[1].color = (*color, 1.0)
        nt.links.new(tex.outputs["Fac"], ramp.inputs["Fac"])
        nt.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
        if noise.get("bump", 0) > 0:
            bump = nt.nodes.new("ShaderNodeBump")
            bump.inputs["Strength"].default_value = noise["bump"]
            nt.links.new(tex.outputs["Fac"], bump.inputs["Height"])
            nt.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    return m


def box(name, center, size, mat):
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=center)
    o = bpy.context.active_object
    o.name = name
    o.scale = size
    o.data.materials.append(mat)
    return o


def plane(name, center, size, rot, mat):
    bpy.ops.mesh.primitive_plane_add(size=1.0, location=center, rotation=rot)
    o = bpy.context.active_object
    o.name = name
    o.scale = (size[0], size[1], 1)
    o.data.materials.append(mat)
    return o


def read_f32(path):
    a = array.array("f")
    with open(path, "rb") as fh:
        a.frombytes(fh.read())
    return a


def main():
    t0 = time.time()
    clear_scene()
    sc = bpy.context.scene
    R = job["render"]
    sc.render.resolution_x, sc.render.resolution_y = job["camera"]["W"], job["camera"]["H"]
    sc.render.resolution_percentage = 100
    sc.render.pixel_aspect_x = sc.render.pixel_aspect_y = 1.0
    sc.render.image_settings.file_format = "PNG"
    sc.render.image_settings.color_mode = "RGB"
    sc.render.film_transparent = False
    sc.view_settings.view_transform = "Filmic"
    sc.view_settings.look = "Medium Contrast"
    sc.view_settings.exposure = job["scene"].get("exposure", 0.0)
    if R["engine"] == "EEVEE":
        sc.render.engine = "BLENDER_EEVEE"
        ee = sc.eevee
        ee.taa_render_samples = R["samples"]
        ee.use_gtao = True
        ee.gtao_distance = 0.4
        ee.use_soft_shadows = True
        ee.shadow_cube_size = "1024"
        ee.shadow_cascade_size = "1024"
        ee.use_ssr = False
    else:
        sc.render.engine = "CYCLES"
        sc.cycles.device = "CPU"
        sc.cycles.samples = R["samples"]
        sc.cycles.use_denoising = False
        sc.cycles.max_bounces = 3
    sc.render.threads_mode = "AUTO"

    # ---- world
    world = bpy.data.worlds.new("world")
    sc.world = world
    world.use_nodes = True
    bg = world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (*job["scene"]["world_color"], 1)
    bg.inputs["Strength"].default_value = job["scene"]["world_strength"]

    # ---- materials
    mats = []
    for md in job["materials"]:
        mats.append(
            principled(
                md["name"],
                md["color"],
                md.get("rough", 0.6),
                md.get("sss", 0.0),
                md.get("sss_color"),
                md.get("spec", 0.3),
                md.get("noise"),
                md.get("sheen", 0.0),
                md.get("emission"),
                md.get("emission_strength", 0.0),
            )
        )
    matd = {m.name: m for m in mats}

    # ---- body mesh
    faces = job["faces"]
    v0 = read_f32(job["poses"][0])
    nv = len(v0) // 3
    me = bpy.data.meshes.new("body")
    me.from_pydata([tuple(v0[3 * i : 3 * i + 3]) for i in range(nv)], [], faces)
    for m in job["body_materials"]:
        me.materials.append(matd[m])
    me.polygons.foreach_set("material_index", job["face_mat"])
    me.polygons.foreach_set("use_smooth", [True] * len(me.polygons))
    me.update()
    body = bpy.data.objects.new("body", me)
    sc.collection.objects.link(body)
    if job["render"].get("subdiv", 0) > 0:
        mod = body.modifiers.new("subd", "SUBSURF")
        mod.levels = 0
        mod.render_levels = job["render"]["subdiv"]

    # ---- environment
    S = job["scene"]
    plane("floor", (0, 0, 0), (12, 12), (0, 0, 0), matd["floor"])
    plane("wall", (0, S["wall_y"], 3.0), (14, 6.0), (math.pi / 2, 0, 0), matd["wall"])
    if S.get("side_wall_x") is not None:
        plane(
            "sidewall",
            (S["side_wall_x"], S["wall_y"] - 3, 3.0),
            (6, 6.0),
            (math.pi / 2, 0, math.pi / 2),
            matd["wall2"],
        )
    T = S["table"]
    if S.get("window"):
        plane(
            "window",
            S["window"]["center"],
            S["window"]["size"],
            (math.pi / 2, 0, 0),
            matd["window"],
        )
    if T["style"] == "chair":
        build_chair(T, matd["chair"])
    elif T["style"] == "none":
        pass
    else:
        build_table(T, matd)
    for i, o in enumerate(S.get("props", [])):
        box(f"prop{i}", o["center"], o["size"], matd[o["mat"]])

    # ---- lights
    for i, L in enumerate(S["lights"]):
        ld = bpy.data.lights.new(f"L{i}", L["type"])
        ld.energy = L["energy"]
        ld.color = L.get("color", (1, 1, 1))
        if L["type"] == "AREA":
            ld.size = L.get("size", 1.0)
            if "size_y" in L:
                ld.shape = "RECTANGLE"
                ld.size_y = L["size_y"]
        if L["type"] == "SUN":
            ld.angle = math.radians(L.get("angle_deg", 5))
        lo = bpy.data.objects.new(f"L{i}", ld)
        sc.collection.objects.link(lo)
        lo.location = L["location"]
        d = Vector(L["target"]) - Vector(L["location"])
        lo.rotation_euler = d.to_track_quat("-Z", "Y").to_euler()
    setup_camera_and_render(sc, body, me, t0)


def build_chair(T, mat):
    """v2 sets: a chair (seat, four legs, backrest) instead of the plinth."""
    th = 0.05
    h, y0, dp, w = T["height"], T["y_front"], T["depth"], T["width"]
    box("chair_seat", (0, y0 + dp / 2, h - th / 2), (w, dp, th), mat)
    for sx in (-1, 1):
        for yy in (y0 + 0.03, y0 + dp - 0.03):
            box("chair_leg", (sx * (w / 2 - 0.03), yy, (h - th) / 2), (0.035, 0.035, h - th), mat)
    box(
        "chair_back",
        (0, y0 + dp + 0.02, h + T.get("back_height", 0.45) / 2),
        (w, 0.035, T.get("back_height", 0.45)),
        mat,
    )


def build_table(T, matd):
    # padded top + cabinet/legs
    top_th = 0.08
    box(
        "table_top",
        (0, T["y_front"] + T["depth"] / 2, T["height"] - top_th / 2),
        (T["width"], T["depth"], top_th),
        matd["table_top"],
    )
    if T["style"] == "cabinet":
        box(
            "table_base",
            (0, T["y_front"] + T["depth"] / 2 + 0.06, (T["height"] - top_th) / 2),
            (T["width"] - 0.1, T["depth"] - 0.12, T["height"] - top_th),
            matd["table_base"],
        )
    else:
        for sx in (-1, 1):
            for sy in (0, 1):
                box(
                    "leg",
                    (
                        sx * (T["width"] / 2 - 0.06),
                        T["y_front"] + 0.06 + sy * (T["depth"] - 0.12),
                        (T["height"] - top_th) / 2,
                    ),
                    (0.05, 0.05, T["height"] - top_th),
                    matd["table_base"],
                )
        box(
            "rail",
            (0, T["y_front"] + T["depth"] / 2, T["height"] - top_th - 0.05),
            (T["width"] - 0.1, T["depth"] - 0.1, 0.06),
            matd["table_base"],
        )


def setup_camera_and_render(sc, body, me, t0):
    # ---- camera (exact pinhole from the host's K, R, t)
    C = job["camera"]
    cd = bpy.data.cameras.new("cam")
    cd.sensor_fit = "HORIZONTAL"
    cd.sensor_width = 36.0
    cd.lens = C["fx"] * 36.0 / C["W"]
    cd.shift_x = cd.shift_y = 0.0
    cd.clip_start, cd.clip_end = 0.05, 50
    cam = bpy.data.objects.new("cam", cd)
    sc.collection.objects.link(cam)
    Rcw = Matrix(C["R_cam_to_world_blender"])  # 3x3 columns = blender camera axes in world
    M = Rcw.to_4x4()
    M.translation = Vector(C["center"])
    cam.matrix_world = M
    sc.camera = cam
    print(f"[hiprom] scene built in {time.time() - t0:.1f}s", flush=True)
    # independent check of the host's projection: Blender's own camera model
    from bpy_extras.object_utils import world_to_camera_view

    sc.view_layers[0].update()
    chk = []
    for p in job.get("check_points", []):
        v = world_to_camera_view(sc, cam, Vector(p))
        chk.append([v.x * C["W"], (1.0 - v.y) * C["H"]])
    with open(
        os.path.join(os.path.dirname(job["out_pattern"]), "blender_projection.json"), "w"
    ) as fh:
        json.dump(chk, fh)

    # ---- render each pose
    out = job["out_pattern"]
    for k, p in enumerate(job["poses"]):
        path = out % k
        if os.path.exists(path):
            continue
        t1 = time.time()
        me.vertices.foreach_set("co", read_f32(p))
        me.update()
        sc.render.filepath = path
        bpy.ops.render.render(write_still=True)
        print(
            f"[hiprom] pose {k + 1}/{len(job['poses'])} rendered in {time.time() - t1:.2f}s",
            flush=True,
        )


main()
