{{- define "portcullis.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portcullis.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- /* "true" when secretEnv fills PORTCULLIS_STORE_URL. */ -}}
{{- define "portcullis.storeUrlFromSecret" -}}
{{- range .Values.secretEnv -}}
{{- if eq .name "PORTCULLIS_STORE_URL" -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{- /*
"true" when the store is SQLite. PORTCULLIS_STORE_URL from secretEnv wins over config.store.url
in the gateway (env > file), so the chart cannot see that URL; nor one read from
config.store.url_file or given as a ${VAR} reference. Those are how a PostgreSQL password is kept
out of the ConfigMap, so they count as PostgreSQL. A missing config.store.url is the gateway's
default, SQLite.
*/ -}}
{{- define "portcullis.sqlite" -}}
{{- if not (or (include "portcullis.storeUrlFromSecret" .) (dig "store" "url_file" "" .Values.config)) -}}
{{- if hasPrefix "sqlite:" (dig "store" "url" "sqlite:" .Values.config) -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{- /*
The port of a listen address (dot: dict "key" "listen"), for containerPort; the Service and the
probes name the port, so they follow. The render fails when the port cannot be derived or is
unreachable from outside the pod. Defaults are the gateway's (loopback, so they fail here).
*/ -}}
{{- define "portcullis.listenPort" -}}
{{- if not (regexMatch "^(\\[[0-9a-fA-F:]+\\]|[^:\\s\\[\\]]+):[0-9]{1,5}$" .listen) -}}
{{- fail (printf "%s must be host:port with a fixed port, such as 0.0.0.0:8080 (it is %q): the chart takes the container port from it" .key .listen) -}}
{{- end -}}
{{- if or (lt (atoi (regexReplaceAll "^.*:" .listen "")) 1) (gt (atoi (regexReplaceAll "^.*:" .listen "")) 65535) -}}
{{- fail (printf "%s needs a port from 1 to 65535 (it is %q): the chart takes the container port from it" .key .listen) -}}
{{- end -}}
{{- if regexMatch "^(127\\.[0-9.]+|\\[::1\\]|localhost):" .listen -}}
{{- fail (printf "%s is %q, a loopback address: neither the Service nor the kubelet's probes can reach it; listen on 0.0.0.0 (or [::])" .key .listen) -}}
{{- end -}}
{{- atoi (regexReplaceAll "^.*:" .listen "") -}}
{{- end -}}

{{- define "portcullis.httpPort" -}}
{{- include "portcullis.listenPort" (dict "key" "config.server.listen" "listen" (dig "server" "listen" "127.0.0.1:8080" .Values.config)) -}}
{{- end -}}

{{- /* The metrics port, or "" when config.metrics.listen is "" (metrics off). */ -}}
{{- define "portcullis.metricsPort" -}}
{{- if ne (dig "metrics" "listen" "127.0.0.1:9464" .Values.config) "" -}}
{{- include "portcullis.listenPort" (dict "key" "config.metrics.listen" "listen" (dig "metrics" "listen" "127.0.0.1:9464" .Values.config)) -}}
{{- end -}}
{{- end -}}

{{- /*
Fails on values the chart cannot honour: listen addresses from secretEnv (the ports are taken
from config.server.listen and config.metrics.listen, and env wins over the ConfigMap).
*/ -}}
{{- define "portcullis.checkValues" -}}
{{- range .Values.secretEnv -}}
{{- if or (eq .name "PORTCULLIS_SERVER_LISTEN") (eq .name "PORTCULLIS_METRICS_LISTEN") -}}
{{- fail (printf "secretEnv cannot set %s: the chart takes the container ports from config.server.listen and config.metrics.listen; set those" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* A volume name for a secretFiles entry: unique per mountPath, a valid DNS label. */ -}}
{{- define "portcullis.secretVolumeName" -}}
{{- printf "secret-%s" (.mountPath | sha256sum | trunc 10) -}}
{{- end -}}
