{{/* Names, labels and the list of services every other template iterates over. */}}

{{- define "careline.labels" -}}
app.kubernetes.io/part-of: careline
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "careline.selector" -}}
app.kubernetes.io/part-of: careline
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "careline.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end -}}

{{- define "careline.kafkaBootstrap" -}}
{{- if .Values.kafka.bootstrapServers -}}
{{ .Values.kafka.bootstrapServers }}
{{- else if .Values.strimzi.enabled -}}
{{ printf "%s-kafka-bootstrap:9093" .Values.strimzi.clusterName }}
{{- else -}}
{{ fail "kafka.bootstrapServers is required when strimzi.enabled is false" }}
{{- end -}}
{{- end -}}

{{- define "careline.kafkaCaSecret" -}}
{{- if .Values.kafka.caSecret -}}
{{ .Values.kafka.caSecret }}
{{- else if .Values.strimzi.enabled -}}
{{ printf "%s-cluster-ca-cert" .Values.strimzi.clusterName }}
{{- end -}}
{{- end -}}

{{- define "careline.userSecret" -}}
{{ printf "%s%s" (default (printf "%s-" .root.Release.Name) .root.Values.kafka.userSecretPrefix) .name }}
{{- end -}}

{{/*
Every service: component name -> module, port, the env prefix of its settings, replicas, and which secrets it
reads. Kafka user names (and their Strimzi Secrets) are <release>-<component>.
*/}}
{{- define "careline.components" -}}
intake: {module: services.intake, port: 8081, prefix: INTAKE, replicas: {{ .Values.intake.replicas }}, agencies: false, ackLink: false, public: false}
router: {module: services.router, port: 8082, prefix: ROUTER, replicas: {{ .Values.router.replicas }}, agencies: true, ackLink: true, public: false}
{{- range $kind, $cfg := .Values.notifier.kinds }}
notifier-{{ $kind }}: {module: services.notifier, port: 8083, prefix: NOTIFIER, replicas: {{ $cfg.replicas }}, agencies: true, ackLink: false, kind: {{ $kind }}, public: false}
{{- end }}
acks: {module: services.acks, port: 8084, prefix: ACKS, replicas: {{ .Values.acks.replicas }}, agencies: true, ackLink: true, public: true}
ops: {module: services.ops, port: 8085, prefix: OPS, replicas: {{ .Values.ops.replicas }}, agencies: false, ackLink: false, public: true}
escalator: {module: services.escalator, port: 8086, prefix: ESCALATOR, replicas: {{ .Values.escalator.replicas }}, agencies: true, ackLink: true, public: false}
{{- end -}}

{{/* Kafka connection env for one service (.name); the SCRAM password comes from the service's user Secret. */}}
{{- define "careline.kafkaEnv" -}}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ include "careline.kafkaBootstrap" .root | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ .root.Values.kafka.securityProtocol | quote }}
- name: KAFKA_CLIENT_ID_PREFIX
  value: {{ .root.Release.Name | quote }}
{{- if hasPrefix "SASL" .root.Values.kafka.securityProtocol }}
- name: KAFKA_SASL_MECHANISM
  value: {{ .root.Values.kafka.saslMechanism | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ printf "%s-%s" .root.Release.Name .name | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "careline.userSecret" . | quote }}, key: password}
{{- end }}
{{- if include "careline.kafkaCaSecret" .root }}
- name: KAFKA_SSL_CAFILE
  value: /etc/careline/kafka-ca/{{ .root.Values.kafka.caSecretKey }}
{{- end }}
{{- end -}}

{{- define "careline.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.database.existingSecret | quote }}, key: {{ .Values.database.secretKey | quote }}}
{{- end -}}

{{- define "careline.commonEnv" -}}
- name: ENVIRONMENT
  value: {{ .Values.environment | quote }}
- name: LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: HOME
  value: /tmp
{{- end -}}

{{- define "careline.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  {{- toYaml .Values.probes.startup | nindent 2 }}
readinessProbe:
  httpGet: {path: /healthz, port: http}
  {{- toYaml .Values.probes.readiness | nindent 2 }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  {{- toYaml .Values.probes.liveness | nindent 2 }}
{{- end -}}
