#!/usr/bin/python3
"""Writes tests/fixtures/coco_eval/cases.json: COCO mask RLEs and COCO AP / AR on random problems.

A numpy restatement, step by step, of the COCO API's definitions: the column-major run-length
encoding of masks, its box, the polygon rasterisation (rleFrPoly: upsample by 5, walk the edges,
toggle pixel columns), the compressed "counts" string, IoU with the crowd rule, and COCOeval's
evaluateImg / accumulate / summarize for iouType "bbox" and "segm". tests/test_coco_eval.cpp reads
the file and checks tasks/instance/rle.cpp and tasks/instance/coco_eval.cpp against it: masks,
strings and polygon masks exactly, the 12 summary numbers of every problem to 1e-12.
Uses numpy only; seeded, so a rerun rewrites the same bytes. Run with Debian's python3:
    /usr/bin/python3 tests/reference/coco_eval.py
"""
import json
import math
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "coco_eval", "cases.json")
U32 = 0xFFFFFFFF

# ------------------------------------------------------------------ masks as RLE (h, w, counts)
def encode(mask):
    """Runs of the column-major pixels, zeros first (the first run may be empty)."""
    flat = (np.asarray(mask) != 0).flatten(order="F").astype(np.int8)
    starts = np.flatnonzero(np.diff(np.concatenate([[0], flat])) != 0)
    return [int(c) for c in np.diff(np.concatenate([[0], starts, [flat.size]]))]


def decode(h, w, counts):
    return np.repeat(np.arange(len(counts)) % 2, counts).astype(np.uint8).reshape(w, h).T


def area(counts):
    return int(sum(counts[1::2]))


def to_bbox(h, w, counts):
    """rleToBbox: first and last pixel of each run of ones, in 32-bit unsigned arithmetic."""
    m = len(counts) // 2 * 2
    if m == 0 or h * w == 0:
        return [0.0, 0.0, 0.0, 0.0]
    xs, ys, xe, ye, cc, xp = w, h, 0, 0, 0, 0
    for j in range(m):
        cc = (cc + counts[j]) & U32
        t = (cc - j % 2) & U32
        y, x = t % h, t // h
        if j % 2 == 0:
            xp = x
        elif xp < x:  # a run of ones that wraps into the next column covers every row
            ys, ye = 0, h - 1
        xs, xe, ys, ye = min(xs, x), max(xe, x), min(ys, y), max(ye, y)
    return [float(xs), float(ys), float(xe - xs + 1), float(ye - ys + 1)]


def merge(rles, intersect=False):
    masks = np.array([decode(*r) for r in rles], bool)
    return (rles[0][0], rles[0][1], encode(masks.all(0) if intersect else masks.any(0)))


def fr_poly(xy, h, w):
    """rleFrPoly, as its C code does it, integer for integer and double for double."""
    scale, k = 5.0, len(xy) // 2
    x = [int(scale * xy[2 * j] + 0.5) for j in range(k)]  # int() truncates toward zero, as C
    y = [int(scale * xy[2 * j + 1] + 0.5) for j in range(k)]
    x, y = x + x[:1], y + y[:1]
    u, v = [], []  # the upsampled boundary, one point per step along each edge's longer axis
    for j in range(k):
        xs, xe, ys, ye = x[j], x[j + 1], y[j], y[j + 1]
        dx, dy = abs(xe - xs), abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe, ys, ye = xe, xs, ye, ys
        if dx >= dy:
            # dx = dy = 0 (a repeated vertex): C divides 0 by 0; the one point's row is never read
            s = (ye - ys) / dx if dx else 0.0
            for d in range(dx + 1):
                t = dx - d if flip else d
                u.append(t + xs)
                v.append(int(ys + s * t + 0.5))
        else:
            s = (xe - xs) / dy
            for d in range(dy + 1):
                t = dy - d if flip else d
                v.append(t + ys)
                u.append(int(xs + s * t + 0.5))
    toggles = []  # column-major pixel indices where a column switches
    for j in range(1, len(u)):
        if u[j] == u[j - 1]:
            continue
        xd = ((u[j] if u[j] < u[j - 1] else u[j] - 1) + 0.5) / scale - 0.5
        if math.floor(xd) != xd or xd < 0 or xd > w - 1:
            continue
        yd = (min(v[j], v[j - 1]) + 0.5) / scale - 0.5
        yd = math.ceil(0.0 if yd < 0 else (float(h) if yd > h else yd))
        toggles.append((int(xd) * h + int(yd)) & U32)
    toggles = sorted(toggles + [h * w])
    runs = [b - a for a, b in zip([0] + toggles[:-1], toggles)]
    counts, j = [runs[0]], 1
    while j < len(runs):  # an empty run: two toggles on one pixel cancel, the next run joins on
        if runs[j] > 0:
            counts.append(runs[j])
        elif j + 1 < len(runs):
            j += 1
            counts[-1] += runs[j]
        j += 1
    return (h, w, counts)


def fr_polys(polys, h, w):
    return merge([fr_poly(p, h, w) for p in polys])


def to_string(counts):
    """6-bit characters from 48: 5 bits of value, 0x20 = more follow; deltas from count 3 on."""
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        while True:
            ch, x = x & 0x1F, x >> 5
            more = (x != -1) if ch & 0x10 else (x != 0)
            out.append(chr(48 + (ch | 0x20 if more else ch)))
            if not more:
                break
    return "".join(out)


def from_string(s):
    counts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x -= 1 << (5 * k)
        counts.append(x + (counts[-2] if len(counts) > 2 else 0))
    return counts


def from_segmentation(segm, h, w):
    if isinstance(segm, list):
        return fr_polys(segm, h, w)
    assert segm["size"] == [h, w]
    c = segm["counts"]
    return (h, w, from_string(c) if isinstance(c, str) else list(c))


def rle_iou(dts, gts, crowd):
    o = np.zeros((len(dts), len(gts)))
    for d, dr in enumerate(dts):
        md = decode(*dr).astype(bool)
        for g, gr in enumerate(gts):
            mg = decode(*gr).astype(bool)
            inter = int(np.count_nonzero(md & mg))
            union = area(dr[2]) if crowd[g] else int(np.count_nonzero(md | mg))
            o[d, g] = inter / union if inter else 0.0
    return o


def box_iou(dts, gts, crowd):
    o = np.zeros((len(dts), len(gts)))
    for g, G in enumerate(gts):
        ga = G[2] * G[3]
        for d, D in enumerate(dts):
            da = D[2] * D[3]
            iw = min(D[2] + D[0], G[2] + G[0]) - max(D[0], G[0])
            ih = min(D[3] + D[1], G[3] + G[1]) - max(D[1], G[1])
            if iw > 0 and ih > 0:
                o[d, g] = iw * ih / (da if crowd[g] else da + ga - iw * ih)
    return o


# ------------------------------------------------------------------ COCOeval
IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = [1, 10, 100]
AREA_RNG = [[0**2, 1e5**2], [0**2, 32**2], [32**2, 96**2], [96**2, 1e5**2]]  # all, s, m, l


def evaluate_image(gts, dts, ious, dt_areas, rng):
    """One image, one category, one area range: which detections match, which are ignored."""
    T, G, D = len(IOU_THRS), len(gts), len(dts)
    ignore = np.array([bool(g["iscrowd"]) or not rng[0] <= g["area"] <= rng[1] for g in gts], bool)
    order = np.argsort(ignore.astype(int), kind="mergesort")  # ignored ground truth last
    g_ig = ignore[order]
    crowd = [bool(gts[i]["iscrowd"]) for i in order]
    matched, d_ig = np.zeros((T, D), bool), np.zeros((T, D), bool)
    if D and G:
        iou = ious[:, order]
        for t, thr in enumerate(IOU_THRS):
            taken = np.zeros(G, bool)
            for d in range(D):
                best, m = min(thr, 1 - 1e-10), -1
                for g in range(G):
                    if taken[g] and not crowd[g]:  # a crowd region can take any number
                        continue
                    if m > -1 and not g_ig[m] and g_ig[g]:  # a real match beats ignored ones
                        break
                    if iou[d, g] >= best:  # the best so far; a later one wins a tie
                        best, m = iou[d, g], g
                if m > -1:
                    matched[t, d], d_ig[t, d], taken[m] = True, g_ig[m], True
    outside = np.array([not rng[0] <= a <= rng[1] for a in dt_areas], bool)
    d_ig |= ~matched & outside[None, :]
    return {"scores": [d["score"] for d in dts], "matched": matched, "ignored": d_ig,
            "n_gt": int(np.count_nonzero(~g_ig))}


def coco_eval(images, categories, iou_type):
    """The 12 summary numbers (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl)."""
    cats = sorted(set(categories))
    T, R, K, A, M = len(IOU_THRS), len(REC_THRS), len(cats), len(AREA_RNG), len(MAX_DETS)
    precision, recall = -np.ones((T, R, K, A, M)), -np.ones((T, K, A, M))
    for k, cat in enumerate(cats):
        per_area = [[] for _ in AREA_RNG]
        for img in images:
            gts = [g for g in img["gt"] if g["category"] == cat]
            dts = [d for d in img["dt"] if d["category"] == cat]
            if not gts and not dts:
                continue  # COCO's None: the image does not count for this category
            by_score = np.argsort([-d["score"] for d in dts], kind="mergesort")
            dts = [dts[i] for i in by_score[:MAX_DETS[-1]]]
            crowd = [bool(g["iscrowd"]) for g in gts]
            if iou_type == "bbox":
                ious = box_iou([d["bbox"] for d in dts], [g["bbox"] for g in gts], crowd)
                dt_areas = [d["bbox"][2] * d["bbox"][3] for d in dts]
            else:
                ious = rle_iou([d["rle"] for d in dts], [g["rle"] for g in gts], crowd)
                dt_areas = [area(d["rle"][2]) for d in dts]
            for a, rng in enumerate(AREA_RNG):
                per_area[a].append(evaluate_image(gts, dts, ious, dt_areas, rng))
        for a, E in enumerate(per_area):
            if not E:
                continue
            for m, max_det in enumerate(MAX_DETS):
                scores = np.concatenate([np.array(e["scores"][:max_det], float) for e in E])
                order = np.argsort(-scores, kind="mergesort")
                hit = np.concatenate([e["matched"][:, :max_det] for e in E], axis=1)[:, order]
                ign = np.concatenate([e["ignored"][:, :max_det] for e in E], axis=1)[:, order]
                n_gt = sum(e["n_gt"] for e in E)
                if n_gt == 0:
                    continue
                tps = np.cumsum(hit & ~ign, axis=1).astype(float)
                fps = np.cumsum(~hit & ~ign, axis=1).astype(float)
                for t in range(T):
                    nd = tps.shape[1]
                    rc = tps[t] / n_gt
                    pr = tps[t] / (fps[t] + tps[t] + np.spacing(1))
                    recall[t, k, a, m] = rc[-1] if nd else 0
                    pr = np.maximum.accumulate(pr[::-1])[::-1]  # non-increasing from the right
                    at = np.searchsorted(rc, REC_THRS, side="left")
                    q = np.zeros(R)
                    q[at < nd] = pr[at[at < nd]]
                    precision[t, :, k, a, m] = q

    def mean(s):
        s = s[s > -1]
        return float(np.mean(s)) if s.size else -1.0

    def ap(thr=None, a=0):
        s = precision if thr is None else precision[np.where(IOU_THRS == thr)[0]]
        return mean(s[:, :, :, a, 2])

    def ar(m, a=0):
        return mean(recall[:, :, a, m])

    return [ap(), ap(0.5), ap(0.75), ap(a=1), ap(a=2), ap(a=3),
            ar(0), ar(1), ar(2), ar(2, 1), ar(2, 2), ar(2, 3)]


# ------------------------------------------------------------------ random problems
def r2(v):
    return round(float(v), 2)


def star(rng, cx, cy, rx, ry, n):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = rng.uniform(0.55, 1.0, n)
    return [r2(c) for px, py in zip(cx + rx * rad * np.cos(ang), cy + ry * rad * np.sin(ang))
            for c in (px, py)]


def shape(rng, h, w, size):
    lo, hi = {"s": (3, 28), "m": (36, 90), "l": (130, 200)}[size]
    bw, bh = (min(rng.uniform(lo, hi), w - 2), min(rng.uniform(lo, hi), h - 2))
    cx, cy = rng.uniform(bw / 2 - 4, w - bw / 2 + 4), rng.uniform(bh / 2 - 4, h - bh / 2 + 4)
    polys = [star(rng, cx, cy, bw / 2, bh / 2, rng.randint(3, 11))]
    if rng.rand() < 0.25:  # a second part beside it
        polys.append(star(rng, cx + bw / 2, cy, bw / 5 + 1, bh / 5 + 1, rng.randint(3, 7)))
    return polys


def coords(polys):
    return [v for p in polys for v in p[0::2]], [v for p in polys for v in p[1::2]]


def bounds(polys):
    xs, ys = coords(polys)
    return [r2(min(xs)), r2(min(ys)), r2(max(xs) - min(xs)), r2(max(ys) - min(ys))]


def jitter(rng, polys, amount):
    """Shifted by about amount × the object's size and scaled by up to 1 ± amount."""
    xs, ys = coords(polys)
    cx, cy, size = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(np.ptp(xs), np.ptp(ys))
    (dx, dy), sc = rng.normal(0, amount * size, 2), rng.uniform(1 - amount, 1 + amount)
    return [[r2(cx + (v - cx) * sc + dx) if i % 2 == 0 else r2(cy + (v - cy) * sc + dy)
             for i, v in enumerate(p)] for p in polys]


def gt_object(rng, h, w, cat, size):
    polys = shape(rng, h, w, size)
    return {"category": cat, "bbox": bounds(polys), "iscrowd": 0, "segmentation": polys,
            "area": max(0.0, area(fr_polys(polys, h, w)[2]) + r2(rng.uniform(-0.5, 0.5)))}


def crowd_object(rng, h, w, cat):
    m = np.zeros((h, w), np.uint8)
    for _ in range(rng.randint(1, 4)):
        x0, y0 = rng.randint(0, w - 20), rng.randint(0, h - 20)
        m[y0:y0 + rng.randint(10, 60), x0:x0 + rng.randint(10, 60)] = 1
    counts = encode(m)
    return {"category": cat, "bbox": to_bbox(h, w, counts), "area": float(area(counts)),
            "iscrowd": 1, "segmentation": {"size": [h, w], "counts": counts}}


def detection(rng, h, w, cat, polys, score, amount):
    rle = fr_polys(jitter(rng, polys, amount), h, w)
    box = np.array(bounds(polys))
    box = [r2(v) for v in box + rng.normal(0, amount / 2, 4) * max(box[2], box[3])]
    box[2], box[3] = max(box[2], 0.5), max(box[3], 0.5)
    return {"category": cat, "score": score, "bbox": box,
            "segmentation": {"size": [h, w], "counts": to_string(rle[2])}}


def problem(rng, n_images, cats, extra_cats=(), per_image=(0, 5), hit=0.75, crowd=0.3,
            dup=0.15, fp=1.5, ties=None, size=(150, 220), tiny=False):
    images = []
    for _ in range(n_images):
        h, w = rng.randint(*size), rng.randint(*size)
        img = {"h": h, "w": w, "gt": [], "dt": []}
        for _ in range(rng.randint(*per_image)):
            sz = "s" if tiny else "sml"[rng.randint(3)]
            img["gt"].append(gt_object(rng, h, w, int(rng.choice(cats)), sz))
        if rng.rand() < crowd:
            img["gt"].append(crowd_object(rng, h, w, int(rng.choice(cats))))
        score = (lambda: float(rng.choice(ties))) if ties else (lambda: r2(rng.uniform(0.05, 1.0)))
        for g in img["gt"]:
            if g["iscrowd"]:  # detections on a crowd region: ignored when they match it
                x, y, bw, bh = g["bbox"]
                for _ in range(rng.randint(0, 3)):
                    p = [star(rng, x + bw / 2, y + bh / 2, bw / 4, bh / 4, 5)]
                    img["dt"].append(detection(rng, h, w, g["category"], p, score(), 0.1))
                continue
            for _ in range(int(rng.rand() < hit) + int(rng.rand() < dup)):
                img["dt"].append(detection(rng, h, w, g["category"], g["segmentation"], score(),
                                           rng.uniform(0.005, 0.08)))
        for _ in range(rng.poisson(fp)):  # false positives, some of unlisted categories
            cat = int(rng.choice(list(cats) + list(extra_cats)))
            sz = "s" if tiny else "sml"[rng.randint(3)]
            img["dt"].append(detection(rng, h, w, cat, shape(rng, h, w, sz), score(), 0.1))
        img["dt"] = [img["dt"][i] for i in rng.permutation(len(img["dt"]))]
        images.append(img)
    return images


def evaluated(name, images, categories):
    objects = [(o, img["h"], img["w"]) for img in images for o in img["gt"] + img["dt"]]
    for o, h, w in objects:
        o["rle"] = from_segmentation(o["segmentation"], h, w)
    results = {t: coco_eval(images, categories, t) for t in ("bbox", "segm")}
    for o, _, _ in objects:
        del o["rle"]
    return {"name": name, "categories": categories, "images": images, **results}


def eval_cases(rng):
    cases = [evaluated("mixed", problem(rng, 5, [1, 2, 3]), [1, 2, 3]),
             evaluated("crowds_duplicates", problem(rng, 4, [1, 2], crowd=1.0, dup=0.6), [1, 2]),
             evaluated("tied_scores", problem(rng, 5, [1, 2], ties=[0.3, 0.5, 0.7, 0.9]), [1, 2])]
    sparse = problem(rng, 4, [1, 2], extra_cats=[5, 4], per_image=(1, 4))
    sparse += [{"h": 40, "w": 50, "gt": [], "dt": []} for _ in range(3)]
    sparse += problem(rng, 2, [1], extra_cats=[5], per_image=(0, 1), crowd=0, fp=3, size=(60, 90))
    order = rng.permutation(len(sparse))
    cases.append(evaluated("sparse", [sparse[i] for i in order], [1, 2, 5, 9]))
    many = problem(rng, 2, [1], per_image=(25, 30), fp=90, hit=0.9, size=(60, 80), tiny=True,
                   ties=[0.25, 0.5, 0.75])
    cases.append(evaluated("many_detections", many, [1]))
    only_dt = problem(rng, 3, [3], per_image=(0, 1), crowd=0, fp=3)
    cases.append(evaluated("no_ground_truth", only_dt, [3]))
    # Areas on the range bounds (32², 96²) and boxes exactly on their objects.
    h, w = 200, 220
    img = {"h": h, "w": w, "gt": [], "dt": []}
    for i, (side, a) in enumerate([(32, 1024.0), (96, 9216.0), (20, 1024.0), (100, 9216.0)]):
        m = np.zeros((h, w), np.uint8)
        x0, y0 = 2 + 110 * (i % 2), 2 + 100 * (i // 2)
        m[y0:y0 + min(side, 96), x0:x0 + min(side, 100)] = 1
        seg = {"size": [h, w], "counts": encode(m)}
        box = [float(x0), float(y0), float(side), float(side)]
        img["gt"].append({"category": 1, "bbox": box, "area": a, "iscrowd": 0, "segmentation": seg})
        img["dt"].append({"category": 1, "score": 0.9 - 0.1 * i, "bbox": box,
                          "segmentation": {"size": [h, w], "counts": to_string(seg["counts"])}})
    cases.append(evaluated("area_bounds", [img], [1]))
    return cases


def poly_cases(rng):
    out = []
    for i in range(160):
        h, w = int(rng.randint(1, 40)), int(rng.randint(1, 40))
        kind = i % 8
        polys = []
        for _ in range(1 + (rng.rand() < 0.3)):
            n = rng.randint(3, 12)
            p = rng.uniform(-4, [w + 4, h + 4], (n, 2))
            if kind in (1, 2, 3):  # whole, half and tenth pixels: upsampled ties at .5
                p = np.round(p * (1, 2, 10)[kind - 1]) / (1, 2, 10)[kind - 1]
            elif kind == 4:
                p[1] = p[0]  # a repeated vertex
                p[2] = (p[0] + p[3 % n]) / 2 if n > 3 else p[2]
            elif kind == 5:
                p = p[:1] + rng.uniform(0, 0.6, (n, 2))  # inside about one pixel
            elif kind == 6:
                p = np.repeat(p[:1], n, 0)  # every vertex the same
            polys.append([r2(v) for v in p.reshape(-1)])
        parts = [fr_poly(p, h, w) for p in polys]
        merged = merge(parts)
        out.append({"h": h, "w": w, "polygons": polys, "parts": [to_string(r[2]) for r in parts],
                    "counts": to_string(merged[2]), "area": area(merged[2]),
                    "bbox": to_bbox(*merged)})
    return out


def mask_cases(rng):
    out = []
    for h, w, p in [(0, 4, 0.5), (3, 0, 0.5), (1, 1, 1.0), (1, 1, 0.0), (3, 4, 0.5), (5, 7, 1),
                    (5, 7, 0), (7, 9, 0.3), (9, 7, 0.7), (16, 5, 0.5), (4, 16, 0.1), (12, 12, 0.5)]:
        m = (rng.rand(h, w) < p).astype(np.uint8)
        counts = encode(m)
        out.append({"h": h, "w": w, "mask": "".join(str(v) for v in m.reshape(-1)),
                    "counts": counts, "string": to_string(counts), "area": area(counts),
                    "bbox": to_bbox(h, w, counts)})
    return out


def string_cases(rng):
    """Masks of up to 2^31 pixels: counts whose differences take 7 characters."""
    out = []
    for h, w in [(65536, 32768), (1000, 3000), (46341, 46340)]:
        cuts = sorted(set(rng.randint(0, h * w, 9).tolist() + [h * w // 3, h * w - 1]))
        counts = [b - a for a, b in zip([0] + cuts, cuts + [h * w])]
        out.append({"h": h, "w": w, "counts": counts, "string": to_string(counts)})
    return out


def iou_cases(rng):
    out = []
    for _ in range(4):
        h, w = int(rng.randint(8, 20)), int(rng.randint(8, 20))

        def blob():
            m = np.zeros((h, w), np.uint8)
            for _ in range(rng.randint(0, 3)):
                y0, x0 = rng.randint(0, h), rng.randint(0, w)
                m[y0:y0 + rng.randint(1, 8), x0:x0 + rng.randint(1, 8)] = 1
            return (h, w, encode(m))

        dts, gts = [blob() for _ in range(4)], [blob() for _ in range(5)]
        crowd = [bool(c) for c in rng.rand(5) < 0.4]
        db = [[r2(v) for v in b] for b in rng.uniform([-5, -5, 0, 0], [20, 20, 15, 15], (4, 4))]
        gb = [[r2(v) for v in b] for b in rng.uniform([-5, -5, 0, 0], [20, 20, 15, 15], (5, 4))]
        db[0] = list(gb[0])  # the same box
        db[1] = [gb[1][0] + gb[1][2], gb[1][1], 3.0, 3.0]  # touching on an edge: 0
        out.append({"h": h, "w": w, "iscrowd": crowd,
                    "dt": [to_string(r[2]) for r in dts], "gt": [to_string(r[2]) for r in gts],
                    "iou": rle_iou(dts, gts, crowd).tolist(), "dt_boxes": db, "gt_boxes": gb,
                    "box_iou": box_iou(db, gb, crowd).tolist()})
    return out


def main():
    rng = np.random.RandomState(20240611)
    doc = {"about": "written by tests/reference/coco_eval.py, read by tests/test_coco_eval.cpp",
           "masks": mask_cases(rng), "strings": string_cases(rng), "polygons": poly_cases(rng),
           "iou": iou_cases(rng), "eval": eval_cases(rng)}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    text = json.dumps(doc, separators=(",", ":"))
    with open(OUT, "w") as f:
        f.write(text + "\n")
    print("wrote %s (%d bytes)" % (OUT, len(text) + 1))


if __name__ == "__main__":
    main()
