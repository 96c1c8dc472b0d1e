#!/usr/bin/env python3
"""Writes sonde.ndjson: Kibana 8 saved objects for sonde's data streams.

Data views for logs-sonde.conn-* and logs-sonde.alert-*, aggregation-based
visualizations, a map of destinations, and two dashboards (network overview,
alerts). Import with Kibana > Stack Management > Saved objects > Import, or
  curl -X POST "$KIBANA/api/saved_objects/_import?overwrite=true" \
       -H "kbn-xsrf: true" --form file=@deploy/kibana/sonde.ndjson

Every field referenced here must exist in the collector's index templates:
collector/tests/it/kibana.rs checks it. Edit this script, then run it:
  python3 deploy/kibana/build.py
"""
import json
import pathlib

CORE = "8.8.0"
FLOWS = "sonde-flows"
ALERTS = "sonde-alerts"


def data_view(ident, title, name):
    return {
        "type": "index-pattern",
        "id": ident,
        "attributes": {"title": title, "timeFieldName": "@timestamp", "name": name},
        "references": [],
        "coreMigrationVersion": CORE,
        "typeMigrationVersion": "8.0.0",
    }


def search_source(query=""):
    return json.dumps({
        "query": {"query": query, "language": "kuery"},
        "filter": [],
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
    })


def vis(ident, title, vis_type, params, aggs, view, query=""):
    state = {"title": title, "type": vis_type, "params": params, "aggs": aggs}
    return {
        "type": "visualization",
        "id": ident,
        "attributes": {
            "title": title,
            "description": "",
            "uiStateJSON": "{}",
            "version": 1,
            "visState": json.dumps(state),
            "kibanaSavedObjectMeta": {"searchSourceJSON": search_source(query)},
        },
        "references": [{
            "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
            "type": "index-pattern",
            "id": view,
        }],
        "coreMigrationVersion": CORE,
        "typeMigrationVersion": "8.5.0",
    }


def metric(agg_id, kind, field=None):
    params = {"field": field} if field else {}
    return {"id": agg_id, "enabled": True, "type": kind, "params": params, "schema": "metric"}


def terms(agg_id, field, schema, size=10, order_by="1"):
    return {
        "id": agg_id, "enabled": True, "type": "terms", "schema": schema,
        "params": {"field": field, "size": size, "order": "desc", "orderBy": order_by,
                   "otherBucket": False, "missingBucket": False},
    }


def histogram(agg_id):
    return {
        "id": agg_id, "enabled": True, "type": "date_histogram", "schema": "segment",
        "params": {"field": "@timestamp", "interval": "auto", "min_doc_count": 1,
                   "extended_bounds": {}},
    }


PIE = {"type": "pie", "addTooltip": True, "addLegend": True, "legendPosition": "right",
       "isDonut": True, "labels": {"show": True, "values": True, "last_level": True,
                                   "truncate": 100}}
TABLE = {"perPage": 10, "showPartialRows": False, "showMetricsAtAllLevels": False,
         "showTotal": False, "totalFunc": "sum", "percentageCol": ""}


def bars(kind):
    return {
        "type": kind, "addTooltip": True, "addLegend": True, "legendPosition": "right",
        "times": [], "addTimeMarker": False,
        "grid": {"categoryLines": False},
        "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "position": "bottom",
                          "show": True, "scale": {"type": "linear"},
                          "labels": {"show": True, "filter": True, "truncate": 100},
                          "title": {}}],
        "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value",
                       "position": "left", "show": True,
                       "scale": {"type": "linear", "mode": "normal"},
                       "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                       "title": {"text": ""}}],
        "seriesParams": [{"show": True, "type": "histogram" if kind == "histogram" else "area",
                          "mode": "stacked", "data": {"label": "", "id": "1"},
                          "valueAxis": "ValueAxis-1", "drawLinesBetweenPoints": True,
                          "showCircles": True}],
    }


def destinations_map():
    layers = [{
        "id": "sonde-destinations",
        "label": "Flow destinations",
        "type": "GEOJSON_VECTOR",
        "visible": True,
        "alpha": 0.75,
        "minZoom": 0,
        "maxZoom": 24,
        "sourceDescriptor": {
            "type": "ES_GEO_GRID",
            "id": "sonde-destinations-source",
            "geoField": "destination.geo.location",
            "requestType": "point",
            "resolution": "COARSE",
            "metrics": [{"type": "sum", "field": "network.bytes"}],
            "indexPatternRefName": "layer_0_source_index_pattern",
        },
        "style": {"type": "VECTOR", "properties": {}},
    }]
    return {
        "type": "map",
        "id": "sonde-map-destinations",
        "attributes": {
            "title": "sonde: where traffic goes",
            "description": "Bytes by destination location (GeoIP enrichment)",
            "layerListJSON": json.dumps(layers),
            "mapStateJSON": json.dumps({"zoom": 1.5, "center": {"lon": 0, "lat": 20},
                                        "query": {"query": "", "language": "kuery"},
                                        "filters": []}),
            "uiStateJSON": json.dumps({"isLayerTOCOpen": True}),
        },
        "references": [{"name": "layer_0_source_index_pattern", "type": "index-pattern",
                        "id": FLOWS}],
        "coreMigrationVersion": CORE,
        "typeMigrationVersion": "8.4.0",
    }


def dashboard(ident, title, description, panels):
    panel_json, references = [], []
    for i, (kind, ref, x, y, w, h) in enumerate(panels, start=1):
        panel_json.append({
            "version": CORE, "type": kind, "panelIndex": str(i),
            "gridData": {"x": x, "y": y, "w": w, "h": h, "i": str(i)},
            "embeddableConfig": {}, "panelRefName": f"panel_{i}",
        })
        references.append({"name": f"panel_{i}", "type": kind, "id": ref})
    return {
        "type": "dashboard",
        "id": ident,
        "attributes": {
            "title": title,
            "description": description,
            "panelsJSON": json.dumps(panel_json),
            "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
            "timeRestore": False,
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
                {"query": {"query": "", "language": "kuery"}, "filter": []})},
        },
        "references": references,
        "coreMigrationVersion": CORE,
        "typeMigrationVersion": "8.7.0",
    }


objects = [
    data_view(FLOWS, "logs-sonde.conn-*", "sonde flows"),
    data_view(ALERTS, "logs-sonde.alert-*", "sonde alerts"),
    vis("sonde-vis-l7", "sonde: traffic by L7 protocol", "pie", PIE,
        [metric("1", "sum", "network.bytes"), terms("2", "network.protocol", "segment")], FLOWS),
    vis("sonde-vis-applications", "sonde: top applications", "table", TABLE,
        [metric("1", "sum", "network.bytes"), terms("2", "sonde.l7.name", "bucket", 20)], FLOWS),
    vis("sonde-vis-talkers", "sonde: top talkers", "table", TABLE,
        [metric("1", "sum", "network.bytes"), terms("2", "source.ip", "bucket", 20),
         metric("3", "sum", "network.packets"), metric("4", "count")], FLOWS),
    vis("sonde-vis-bytes", "sonde: bytes over time by transport", "area", bars("area"),
        [metric("1", "sum", "network.bytes"), histogram("2"),
         terms("3", "network.transport", "group", 5)], FLOWS),
    vis("sonde-vis-states", "sonde: connection states", "pie", PIE,
        [metric("1", "count"), terms("2", "connection.state", "segment", 13)], FLOWS),
    vis("sonde-vis-observers", "sonde: flows by probe", "table", TABLE,
        [metric("1", "count"), terms("2", "observer.name", "bucket", 50),
         terms("3", "observer.ingress.interface.name", "bucket", 10)], FLOWS),
    vis("sonde-vis-alert-rules", "sonde: alerts by rule and severity", "histogram",
        bars("histogram"),
        [metric("1", "count"), terms("2", "rule.name", "segment", 20),
         terms("3", "event.severity_label", "group", 4)], ALERTS),
    vis("sonde-vis-alert-severity", "sonde: alerts by severity", "pie", PIE,
        [metric("1", "count"), terms("2", "event.severity_label", "segment", 4)], ALERTS),
    vis("sonde-vis-alert-attackers", "sonde: top alerting sources", "table", TABLE,
        [metric("1", "count"), terms("2", "source.ip", "bucket", 20),
         terms("3", "rule.name", "bucket", 5)], ALERTS),
    destinations_map(),
    dashboard("sonde-dashboard-network", "sonde: network overview",
              "Flows from sonde probes: L7 protocols, top talkers, bytes over time, destinations",
              [("visualization", "sonde-vis-l7", 0, 0, 16, 15),
               ("visualization", "sonde-vis-applications", 16, 0, 16, 15),
               ("visualization", "sonde-vis-states", 32, 0, 16, 15),
               ("visualization", "sonde-vis-bytes", 0, 15, 48, 15),
               ("visualization", "sonde-vis-talkers", 0, 30, 24, 18),
               ("map", "sonde-map-destinations", 24, 30, 24, 18),
               ("visualization", "sonde-vis-observers", 0, 48, 48, 12)]),
    dashboard("sonde-dashboard-alerts", "sonde: alerts",
              "Alerts from sonde probes by rule, severity and source",
              [("visualization", "sonde-vis-alert-rules", 0, 0, 32, 18),
               ("visualization", "sonde-vis-alert-severity", 32, 0, 16, 18),
               ("visualization", "sonde-vis-alert-attackers", 0, 18, 48, 15)]),
]

out = pathlib.Path(__file__).with_name("sonde.ndjson")
out.write_text("".join(json.dumps(o, sort_keys=True) + "\n" for o in objects))
print(f"wrote {len(objects)} objects to {out}")
