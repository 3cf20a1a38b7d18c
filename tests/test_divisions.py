"""Organ names to administrative divisions (tasks/parse/divisions.py)."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tasks.parse import divisions as D
from tasks.parse.decode import decode_bytes
from tasks.parse.divisions import Division, region_of, resolve_organ, resolve_region, sample_divisions

SAMPLES = Path("/work/shared/samples")


def _check(div: Division, level, kind=None, province=None, prefecture=None, county=None, code=None):
    assert div.admin_level == level, div
    if kind is not None:
        assert div.organ_kind == kind, div
    assert (div.province, div.prefecture, div.county) == (province, prefecture, county), div
    assert div.division_code == code, div


# --- the sample reports ---------------------------------------------------------------------------------------


def test_sample_organs():
    _check(resolve_organ("紫溪镇人民政府"), "township", "government")
    _check(resolve_organ("庆阳市人民政府"), "prefectural", "government", "甘肃省", "庆阳市", None, "621000")
    _check(resolve_organ("庆阳市政府"), "prefectural", "government", "甘肃省", "庆阳市", None, "621000")
    _check(resolve_organ("湖州市政务服务管理办公室"), "prefectural", "department", "浙江省", "湖州市", None, "330500")
    _check(resolve_organ("淮安经济技术开发区党政办公室"), "county", "department", "江苏省", "淮安市", None, "320800")
    _check(resolve_organ("淮安市人民政府"), "prefectural", "government", "江苏省", "淮安市", None, "320800")
    _check(resolve_organ("淮安市人民政府办公室"), "prefectural", "department", "江苏省", "淮安市", None, "320800")
    _check(resolve_organ("我局"), "unknown", "department")
    assert resolve_organ(None) == D.UNKNOWN
    assert resolve_organ("") == D.UNKNOWN
    assert resolve_organ(None, "江苏省淮安市") == D.UNKNOWN


@pytest.mark.skipif(not (SAMPLES / "expected").is_dir(), reason="shared samples not present")
def test_expected_labels_agree():
    """The hand labels' organ → admin_level/province, with and without the report text as context."""
    for f in sorted((SAMPLES / "expected").glob("*.json")):
        e = json.loads(f.read_text(encoding="utf-8"))
        text = decode_bytes((SAMPLES / e["file"]).read_bytes()).text  # the real PDF's too (its text layer)
        for ctx in (None, text):
            div = resolve_organ(e["organ"], ctx)
            assert div.admin_level == (e["admin_level"] or "unknown"), (f.name, div)
            if "province" in e:
                assert div.province == e["province"], (f.name, div)


# --- levels -----------------------------------------------------------------------------------------------------


def test_provinces_and_municipalities():
    _check(resolve_organ("江苏省人民政府"), "provincial", "government", "江苏省", None, None, "320000")
    _check(resolve_organ("浙江省发展和改革委员会"), "provincial", "department", "浙江省", None, None, "330000")
    _check(resolve_organ("北京市人民政府"), "provincial", "government", "北京市", None, None, "110000")
    _check(resolve_organ("重庆市教育委员会"), "provincial", "department", "重庆市", None, None, "500000")
    _check(resolve_organ("北京市朝阳区人民政府"), "county", "government", "北京市", None, "朝阳区", "110105")
    _check(resolve_organ("上海市浦东新区人民政府"), "county", "government", "上海市", None, "浦东新区", "310115")
    _check(resolve_organ("浦东新区人民政府"), "county", "government", "上海市", None, "浦东新区", "310115")
    _check(resolve_organ("重庆市忠县人民政府"), "county", "government", "重庆市", None, "忠县", "500233")
    _check(resolve_organ("内蒙古自治区人民政府"), "provincial", "government", "内蒙古自治区", None, None, "150000")
    _check(resolve_organ("广西壮族自治区财政厅"), "provincial", "department", "广西壮族自治区", None, None, "450000")


def test_prefectures_and_short_forms():
    _check(
        resolve_organ("黔东南州人民政府"), "prefectural", "government", "贵州省", "黔东南苗族侗族自治州", None, "522600"
    )
    _check(
        resolve_organ("延边朝鲜族自治州人民政府"),
        "prefectural",
        "government",
        "吉林省",
        "延边朝鲜族自治州",
        None,
        "222400",
    )
    _check(
        resolve_organ("阿克苏地区行政公署"),
        "prefectural",
        "government",
        "新疆维吾尔自治区",
        "阿克苏地区",
        None,
        "652900",
    )
    _check(resolve_organ("吉林市人民政府"), "prefectural", "government", "吉林省", "吉林市", None, "220200")
    _check(resolve_organ("吉林省人民政府"), "provincial", "government", "吉林省", None, None, "220000")
    _check(resolve_organ("东莞市人民政府"), "prefectural", "government", "广东省", "东莞市", None, "441900")
    _check(resolve_organ("中共淮安市委办公室"), "prefectural", "other", "江苏省", "淮安市", None, "320800")
    _check(resolve_organ("国家税务总局淮安市税务局"), "prefectural", "department", "江苏省", "淮安市", None, "320800")


def test_departments_do_not_look_like_places_or_townships():
    # 公安 is 公安县's short form; 城乡/乡村/乡镇 are not townships.
    _check(resolve_organ("荆州市公安局"), "prefectural", "department", "湖北省", "荆州市", None, "421000")
    _check(resolve_organ("淮安市住房和城乡建设局"), "prefectural", "department", "江苏省", "淮安市", None, "320800")
    _check(resolve_organ("淮安市新型城镇化办公室"), "prefectural", "department", "江苏省", "淮安市", None, "320800")
    _check(resolve_organ("淮安市淮安区乡村振兴局"), "county", "department", "江苏省", "淮安市", "淮安区", "320803")
    assert resolve_organ("县乡村振兴办公室").admin_level == "unknown"
    # a department takes the level of its government, the place comes from the table
    _check(resolve_organ("湖州市自然资源和规划局"), "prefectural", "department", "浙江省", "湖州市", None, "330500")


def test_counties_and_directly_administered_cities():
    _check(resolve_organ("清江浦区人民政府"), "county", "government", "江苏省", "淮安市", "清江浦区", "320812")
    _check(resolve_organ("仙桃市人民政府"), "county", "government", "湖北省", None, "仙桃市", "429004")
    _check(resolve_organ("济源市人民政府"), "county", "government", "河南省", None, "济源市", "419001")
    _check(resolve_organ("昆山市人民政府"), "county", "government", "江苏省", "苏州市", "昆山市", "320583")
    _check(resolve_organ("镇安县镇安镇人民政府"), "township", "government", "陕西省", "商洛市", "镇安县", "611025")


def test_ambiguous_names():
    # 朝阳区: 北京 and 长春.  Without anything else, the county stays null rather than a guess.
    _check(resolve_organ("朝阳区人民政府"), "county", "government")
    _check(resolve_organ("朝阳区人民政府", "北京市"), "county", "government", "北京市", None, "朝阳区", "110105")
    _check(resolve_organ("长春市朝阳区人民政府"), "county", "government", "吉林省", "长春市", "朝阳区", "220104")
    # 鼓楼区: 南京, 徐州 (both 江苏), 福州, 开封.
    _check(resolve_organ("鼓楼区人民政府"), "county", "government")
    _check(resolve_organ("鼓楼区人民政府", "江苏省"), "county", "government", "江苏省", None, None, "320000")
    _check(
        resolve_organ("鼓楼区人民政府", "江苏省南京市"), "county", "government", "江苏省", "南京市", "鼓楼区", "320106"
    )
    _check(resolve_organ("南京市鼓楼区人民政府"), "county", "government", "江苏省", "南京市", "鼓楼区", "320106")
    _check(resolve_organ("福州市鼓楼区财政局"), "county", "department", "福建省", "福州市", "鼓楼区", "350102")
    # generic names (城区) need their city
    _check(resolve_organ("城区人民政府"), "county", "government")
    _check(resolve_organ("长治市城区人民政府"), "county", "government", "山西省", "长治市", "城区", "140402")
    # the organ's own place wins over the context; a second place in the organ does not move it
    _check(resolve_organ("湖州市人民政府", "江苏省"), "prefectural", "government", "浙江省", "湖州市", None, "330500")
    _check(resolve_organ("淮安市人民政府驻上海办事处"), "prefectural", "department", "江苏省", "淮安市", None, "320800")


@pytest.mark.parametrize("organ", D.CENTRAL_ORGANS + ("国务院", "审计署", "中国证券监督管理委员会"))
def test_ministries(organ):
    div = resolve_organ(organ)
    assert div.admin_level == "central", div
    assert (div.province, div.prefecture, div.county, div.division_code) == (None, None, None, None)


def test_zones():
    _check(resolve_organ("苏州工业园区管理委员会"), "county", "zone", "江苏省", "苏州市", None, "320500")
    _check(resolve_organ("淮安经济技术开发区管委会"), "county", "zone", "江苏省", "淮安市", None, "320800")
    _check(resolve_organ("江宁经济技术开发区管理委员会"), "county", "zone", "江苏省", "南京市", "江宁区", "320115")
    # 安新县's short form inside 雄安新区 is not a place
    _check(resolve_organ("河北雄安新区管理委员会"), "county", "zone", "河北省", None, None, "130000")
    _check(resolve_organ("高新区管委会", "江苏省淮安市"), "county", "zone", "江苏省", "淮安市", None, "320800")


def test_townships():
    _check(resolve_organ("清江浦区城南街道办事处"), "township", "government", "江苏省", "淮安市", "清江浦区", "320812")
    _check(
        resolve_organ("紫溪镇人民政府", "云南省楚雄彝族自治州楚雄市"),
        "township",
        "government",
        "云南省",
        "楚雄彝族自治州",
        "楚雄市",
        "532301",
    )
    _check(resolve_organ("紫溪镇财政所"), "township", "department")
    _check(resolve_organ("城关镇人民政府"), "township", "government")  # 城关区 exists; 城关镇 is not it
    _check(resolve_organ("东区街道办事处"), "township", "government")  # nor is 东区 (攀枝花)


def test_relative_and_self_references():
    assert resolve_organ("市政务办").admin_level == "unknown"
    _check(resolve_organ("市政务办", "江苏省淮安市"), "prefectural", "department", "江苏省", "淮安市", None, "320800")
    _check(
        resolve_organ("市政府办公室", "江苏省昆山市"), "county", "department", "江苏省", "苏州市", "昆山市", "320583"
    )
    _check(
        resolve_organ("县教育局", "江苏省淮安市涟水县"), "county", "department", "江苏省", "淮安市", "涟水县", "320826"
    )
    _check(resolve_organ("我局", "江苏省淮安市"), "prefectural", "department", "江苏省", "淮安市", None, "320800")
    assert resolve_organ("市场监督管理局").admin_level == "unknown"  # 市场 is not 市


def test_normalisation():
    _check(
        resolve_organ(" 淮安市 人民政府\n办公室（淮安市政务公开办）"),
        "prefectural",
        "department",
        "江苏省",
        "淮安市",
        None,
        "320800",
    )


def test_long_context():
    text = (
        "一、总体情况\n"
        + "我镇认真贯彻落实《中华人民共和国政府信息公开条例》。" * 50
        + "楚雄彝族自治州楚雄市紫溪镇人民政府"
    )
    _check(
        resolve_organ("紫溪镇人民政府", text), "township", "government", "云南省", "楚雄彝族自治州", "楚雄市", "532301"
    )


def test_resolve_region():
    _check(resolve_region("江苏省淮安市"), "prefectural", None, "江苏省", "淮安市", None, "320800")
    _check(resolve_region("江苏省"), "provincial", None, "江苏省", None, None, "320000")
    _check(resolve_region("北京市"), "provincial", None, "北京市", None, None, "110000")
    _check(resolve_region("北京市朝阳区"), "county", None, "北京市", None, "朝阳区", "110105")
    _check(resolve_region("江苏省淮安市清江浦区"), "county", None, "江苏省", "淮安市", "清江浦区", "320812")
    _check(resolve_region("江苏省淮安市清江浦区城南街道"), "township", None, "江苏省", "淮安市", "清江浦区", "320812")
    _check(resolve_region("湖北省仙桃市"), "county", None, "湖北省", None, "仙桃市", "429004")
    assert resolve_region("") == D.UNKNOWN
    assert resolve_region(None) == D.UNKNOWN


# --- the table --------------------------------------------------------------------------------------------------


def test_table_structure():
    t = D._table()
    assert len([d for d in t.divs.values() if d.depth == 0]) == 34
    assert not any(D._PLACEHOLDER_RE.match(d.name) for d in t.divs.values() if d.depth)
    munis = {d.name for d in t.divs.values() if d.depth == 0 and d.name.endswith("市")}
    assert munis == {"北京市", "天津市", "上海市", "重庆市"}
    assert t.divs["110105"].prefecture is None and t.divs["429004"].prefecture is None
    assert t.divs["320812"].prefecture == "320800"


# --- the corpus generator ---------------------------------------------------------------------------------------


def test_sample_divisions_round_trip():
    samples = sample_divisions(random.Random(20240101), 1000)
    assert len(samples) == 1000
    levels = Counter(level for _, level, _ in samples)
    assert set(levels) == {"central", "provincial", "prefectural", "county", "township"}, levels
    kinds = Counter(div.organ_kind for _, _, div in samples)
    assert {"government", "department", "zone"} <= set(kinds), kinds
    for organ, level, div in samples:
        assert div.admin_level == level
        assert resolve_organ(organ) == div, organ
        assert resolve_organ(organ, region_of(div)) == div, organ
        if level == "township":
            assert div.county is not None and div.division_code is not None
    assert sample_divisions(random.Random(7), 50) == sample_divisions(random.Random(7), 50)


def test_speed():
    D._table()
    samples = sample_divisions(random.Random(3), 5000)
    organs = [o for o, _, _ in samples]
    regions = [region_of(div) for _, _, div in samples]
    resolve, normalise, normalise_context, scan = (
        D._resolve.__wrapped__,
        D._normalise,
        D._normalise_context,
        D._context_scan,
    )
    t0 = time.perf_counter()
    for o in organs:  # what a cache miss costs: normalise, match, decide
        resolve(normalise(o), None, False)
    uncached = (time.perf_counter() - t0) / len(organs) * 1e6
    t0 = time.perf_counter()
    for o, r in zip(organs, regions, strict=True):
        resolve(normalise(o), *scan(normalise_context(r)))
    uncached_ctx = (time.perf_counter() - t0) / len(organs) * 1e6
    for o, r in zip(organs, regions, strict=True):
        resolve_organ(o, r)
    t0 = time.perf_counter()
    for o, r in zip(organs, regions, strict=True):
        resolve_organ(o, r)
    cached = (time.perf_counter() - t0) / len(organs) * 1e6
    text = "政府信息公开工作年度报告。" * 300 + "江苏省淮安市"
    t0 = time.perf_counter()
    for _ in range(50):
        resolve_organ("我局", text)
    long_ctx = (time.perf_counter() - t0) / 50 * 1e6
    print(
        f"\nresolve_organ: uncached {uncached:.1f} µs, uncached with region {uncached_ctx:.1f} µs, "
        f"cached {cached:.2f} µs, {len(text)}-char context {long_ctx:.0f} µs per call"
    )
