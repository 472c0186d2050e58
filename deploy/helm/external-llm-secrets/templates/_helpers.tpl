{{/* Chart name, truncated to 63 characters. */}}
{{- define "els.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name alone when it already contains the chart name. */}}
{{- define "els.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "els.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "els.selectorLabels" -}}
app.kubernetes.io/name: {{ include "els.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "els.labels" -}}
helm.sh/chart: {{ include "els.chart" . }}
{{ include "els.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "els.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "els.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "els.leaseName" -}}
{{- default (printf "%s-leader" (include "els.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "els.hashKeySecretName" -}}
{{- default (printf "%s-hash-key" (include "els.fullname" .)) .Values.hashKey.existingSecret }}
{{- end }}

{{/*
The operator's permissions, one rule per need, used by the ClusterRole (cluster scope) and by
each namespace's Role (namespace scope). Every verb is one the operator calls: see
src/kube/client.ts and test/helm-rbac.test.ts, which removes each rule and shows what breaks.
*/}}
{{- define "els.rules" -}}
# Watch ExternalLLMSecrets (the informers list and watch; start-up lists once to check the CRD).
- apiGroups: ["llmsecrets.dev"]
  resources: ["externalllmsecrets"]
  verbs: ["list", "watch"]
# Write Ready and the sync status (JSON merge patch on the status subresource).
- apiGroups: ["llmsecrets.dev"]
  resources: ["externalllmsecrets/status"]
  verbs: ["patch"]
# The managed Secrets: watched (label-selected), read when not cached, created and replaced.
# Deletion is left to the garbage collector (ownerReferences), so no delete verb.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update"]
# Events on ExternalLLMSecrets (Synced, SyncFailed, ...).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- if and .Values.serviceAccountAuth.enabled (empty .Values.serviceAccountAuth.namespaces) }}
{{ include "els.tokenRules" . }}
{{- end }}
{{- if .Values.rolloutRestart.enabled }}
# spec.rolloutRestartTargets: check the workload is not paused, then patch its pod template.
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["get", "patch"]
{{- end }}
{{- end }}

{{/* spec.auth.serviceAccountRef, only with serviceAccountAuth.enabled: cluster-wide (in els.rules)
or, with serviceAccountAuth.namespaces, in a Role of each listed namespace. */}}
{{- define "els.tokenRules" -}}
# spec.auth.serviceAccountRef: read the ServiceAccount's role annotation ...
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get"]
# ... and mint a short-lived token for AssumeRoleWithWebIdentity.
- apiGroups: [""]
  resources: ["serviceaccounts/token"]
  verbs: ["create"]
{{- end }}

{{/* Renders extraArgs: {flag: value} as --flag=value, {flag: true} as --flag; false omits. */}}
{{- define "els.extraArgs" -}}
{{- range $flag, $value := .Values.extraArgs }}
{{- if kindIs "bool" $value }}
{{- if $value }}
- --{{ $flag }}
{{- end }}
{{- else }}
- --{{ $flag }}={{ $value }}
{{- end }}
{{- end }}
{{- end }}

{{/* The access-rules document: accessRules, then the deprecated roleRules (valid access rules). */}}
{{- define "els.accessRules" -}}
{{- concat (.Values.accessRules | default list) (.Values.roleRules | default list) | toJson -}}
{{- end }}
