{{- /*
Named templates of the llamafactory chart: names, labels, and the settings the
constructs derive from several values. Each one mirrors a Python definition, named
beside it, and the equivalence tests compare the two renders. Words between at-signs
are constants that the chart writer fills in from the Python package.
*/ -}}

{{- /* Chart name, or nameOverride: the app.kubernetes.io/name label (naming.py). */ -}}
{{- define "llamafactory.name" -}}
{{- regexReplaceAll "-+$" (default .Chart.Name .Values.nameOverride | trunc 63) "" }}
{{- end }}

{{- /* Prefix of every object name (ReleaseNames.fullname). */ -}}
{{- define "llamafactory.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- regexReplaceAll "-+$" (.Values.fullnameOverride | trunc 63) "" }}
{{- else }}
{{- $name := include "llamafactory.name" . }}
{{- if contains $name .Release.Name }}
{{- regexReplaceAll "-+$" (.Release.Name | trunc 63) "" }}
{{- else }}
{{- regexReplaceAll "-+$" (printf "%s-%s" .Release.Name $name | trunc 63) "" }}
{{- end }}
{{- end }}
{{- end }}

{{- /* "<fullname>-<suffix>" within 63 characters (ReleaseNames.object_name).
Call with (list $ "suffix"). */ -}}
{{- define "llamafactory.objectName" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- $prefix := include "llamafactory.fullname" $root | trunc (int (sub 62 (len $suffix))) }}
{{- printf "%s-%s" (regexReplaceAll "-+$" $prefix "") $suffix }}
{{- end }}

{{- /* A name unique across namespaces, for objects in the gateway's namespace
(ReleaseNames.gateway_object_name). Call with (list $ "suffix"). */ -}}
{{- define "llamafactory.gatewayObjectName" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- $fullname := include "llamafactory.fullname" $root }}
{{- $digest := sha256sum (printf "%s/%s" $root.Release.Namespace $fullname) | trunc 8 }}
{{- $prefix := $fullname | trunc (int (sub 53 (len $suffix))) }}
{{- printf "%s-%s-%s" (regexReplaceAll "-+$" $prefix "") $digest $suffix }}
{{- end }}

{{- /* Selector labels: they never change for a release (ReleaseNames.selector_labels). */ -}}
{{- define "llamafactory.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llamafactory.name" . | quote }}
app.kubernetes.io/instance: {{ regexReplaceAll "-+$" (.Release.Name | trunc 63) "" | quote }}
{{- end }}

{{- /* Labels of every object (ReleaseNames.labels), plus Helm's own two. */ -}}
{{- define "llamafactory.labels" -}}
{{ include "llamafactory.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: {{ .Chart.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end }}

{{- /* Labels of the pod: extra labels first, so the chart's own always win
(LlamaFactoryWorkload._pod_labels). */ -}}
{{- define "llamafactory.podLabels" -}}
{{- $labels := include "llamafactory.labels" . | fromYaml }}
{{- $_ := set $labels "app.kubernetes.io/component" .Values.mode }}
{{- $_ = set $labels "hpe-ezua/app" (include "llamafactory.name" .) }}
{{- $_ = set $labels "hpe-ezua/component" .Values.mode }}
{{- $_ = set $labels "hpe-ezua/type" "@EZUA_TYPE@" }}
{{- toYaml (merge $labels (.Values.podLabels | default dict) (dig "kyverno" "labels" dict .Values.ezua)) }}
{{- end }}

{{- /* A map of strings with every key and value quoted, so that no annotation value
(such as "=" or "<<") reads as YAML syntax. */ -}}
{{- define "llamafactory.quotedMap" -}}
{{- range $key, $value := . }}
{{ $key | quote }}: {{ $value | quote }}
{{- end }}
{{- end }}

{{- /* A value written as a string; numbers as in values.number_string. */ -}}
{{- define "llamafactory.string" -}}
{{- if kindIs "invalid" . }}
{{- else if kindIs "float64" . }}
{{- if and (eq (floor .) .) (lt . 1e18) (gt . -1e18) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else }}{{ . }}
{{- end }}
{{- end }}

{{- /* Full image reference (ImageValues.reference). */ -}}
{{- define "llamafactory.image" -}}
{{- $image := .Values.image }}
{{- $registry := regexReplaceAll "/+$" ($image.registry | default "") "" }}
{{- $tag := include "llamafactory.string" $image.tag | default "@DEFAULT_TAG@" }}
{{- if $registry }}{{ $registry }}/{{ end }}{{ $image.repository }}:{{ $tag }}
{{- if $image.digest }}@{{ $image.digest }}{{ end }}
{{- end }}

{{- /* Container port of the mode (Values.container_port). */ -}}
{{- define "llamafactory.port" -}}
{{- if eq .Values.mode "webui" }}{{ .Values.gradio.serverPort | int }}{{ else }}{{ .Values.api.port | int }}{{ end }}
{{- end }}

{{- /* Service port (Values.service_port). */ -}}
{{- define "llamafactory.servicePort" -}}
{{- if kindIs "invalid" .Values.service.port }}{{ include "llamafactory.port" . }}{{ else }}{{ .Values.service.port | int }}{{ end }}
{{- end }}

{{- /* Path every probe asks for (workload.PROBE_PATHS). */ -}}
{{- define "llamafactory.probePath" -}}
{{- if eq .Values.mode "webui" }}@WEBUI_PROBE_PATH@{{ else }}@API_PROBE_PATH@{{ end }}
{{- end }}

{{- /* Startup failure threshold (Values.startup_failure_threshold). */ -}}
{{- define "llamafactory.startupFailureThreshold" -}}
{{- $configured := .Values.probes.startup.failureThreshold }}
{{- if not (kindIs "invalid" $configured) }}{{ $configured | int }}
{{- else if eq .Values.mode "webui" }}@WEBUI_STARTUP_FAILURES@
{{- else }}@API_STARTUP_FAILURES@
{{- end }}
{{- end }}

{{- /* Rollout deadline: the startup budget plus a margin, at least the floor
(LlamaFactoryWorkload). */ -}}
{{- define "llamafactory.progressDeadlineSeconds" -}}
{{- $budget := mul (.Values.probes.startup.periodSeconds | int) (include "llamafactory.startupFailureThreshold" . | int) }}
{{- max @STARTUP_FLOOR@ (add $budget @ROLLOUT_MARGIN@) }}
{{- end }}

{{- /* "true" when the container's user is known not to be root, else empty
(Values.runs_as_non_root). */ -}}
{{- define "llamafactory.runsAsNonRoot" -}}
{{- $nonRoot := .Values.securityContext.runAsNonRoot }}
{{- if kindIs "invalid" $nonRoot }}{{ $nonRoot = .Values.podSecurityContext.runAsNonRoot }}{{ end }}
{{- $user := .Values.securityContext.runAsUser }}
{{- if kindIs "invalid" $user }}{{ $user = .Values.podSecurityContext.runAsUser }}{{ end }}
{{- if or (eq $nonRoot true) (and (not (kindIs "invalid" $user)) (ne (int $user) 0)) }}true{{ end }}
{{- end }}

{{- /* Mount path of the model cache (Values.hf_cache_mount_path). */ -}}
{{- define "llamafactory.hfCacheMountPath" -}}
{{- $configured := .Values.persistence.hfCache.mountPath }}
{{- if not (kindIs "invalid" $configured) }}{{ $configured }}
{{- else if include "llamafactory.runsAsNonRoot" . }}@NON_ROOT_HF_CACHE@
{{- else }}@ROOT_HF_CACHE@
{{- end }}
{{- end }}

{{- /* Size of /dev/shm in GiB; a string of digits counts as the number (Values.shm_size_gi). */ -}}
{{- define "llamafactory.shmSizeGi" -}}
{{- include "llamafactory.string" .Values.shmSizeGi | trim | atoi }}
{{- end }}

{{- /* Mount path of LLaMA Board's state, without trailing slashes. */ -}}
{{- define "llamafactory.webuiStatePath" -}}
{{- regexReplaceAll "/+$" (.Values.persistence.webuiState.mountPath | default "@WORKING_DIR@") "" }}
{{- end }}

{{- /* Requests and limits of the app's container (ResourcesValues._effective). */ -}}
{{- define "llamafactory.resources" -}}
{{- include "llamafactory.resourcesOf" .Values.resources }}
{{- end }}

{{- /* Requests and limits as rendered from a resources section
(ResourcesValues._effective). Call with the section, such as .Values.training.resources. */ -}}
{{- define "llamafactory.resourcesOf" -}}
{{- $requests := dict }}
{{- range $name, $value := .requests }}
{{- $_ := set $requests $name (include "llamafactory.string" $value) }}
{{- end }}
{{- $limits := dict }}
{{- range $name, $value := .limits }}
{{- $_ := set $limits $name (include "llamafactory.string" $value) }}
{{- end }}
{{- $gpus := atoi (get $requests "@GPU@" | default (get $limits "@GPU@") | default "0") }}
{{- $_ := unset $requests "@GPU@" }}
{{- $_ = unset $limits "@GPU@" }}
{{- if gt $gpus 0 }}
{{- $_ = set $requests "@GPU@" (toString $gpus) }}
{{- $_ = set $limits "@GPU@" (toString $gpus) }}
{{- end }}
{{- range $name, $limit := $limits }}
{{- if not (hasKey $requests $name) }}{{ $_ = set $requests $name $limit }}{{ end }}
{{- end }}
{{- if not (hasKey $limits "cpu") }}{{ $_ = set $limits "cpu" (get $requests "cpu") }}{{ end }}
{{- toYaml (dict "requests" $requests "limits" $limits) }}
{{- end }}

{{- /* The nvidia.com/gpu count as rendered, 0 for none (ResourcesValues.gpus). */ -}}
{{- define "llamafactory.gpus" -}}
{{- include "llamafactory.gpusOf" .Values.resources }}
{{- end }}

{{- /* The nvidia.com/gpu count of a resources section, 0 for none. */ -}}
{{- define "llamafactory.gpusOf" -}}
{{- $resources := include "llamafactory.resourcesOf" . | fromYaml }}
{{- get $resources.limits "@GPU@" | default "0" }}
{{- end }}

{{- /* A quantity in base units, as a float (values._quantity_to_float). */ -}}
{{- define "llamafactory.quantityValue" -}}
{{- $factors := dict "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 "m" 0.001 "k" 1000.0 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 }}
{{- $suffix := regexFind "([KMGTPE]i|[mkMGTPE])$" . }}
{{- $number := trimSuffix $suffix . }}
{{- mulf (float64 $number) (get $factors $suffix | default 1.0) }}
{{- end }}

{{- /* Pod security context without unset fields
(LlamaFactoryWorkload._pod_security_context). */ -}}
{{- define "llamafactory.podSecurityContext" -}}
{{- $values := .Values.podSecurityContext }}
{{- $context := dict }}
{{- range $key := list "runAsUser" "runAsGroup" "fsGroup" }}
{{- if not (kindIs "invalid" (index $values $key)) }}{{ $_ := set $context $key (index $values $key | int64) }}{{ end }}
{{- end }}
{{- range $key := list "runAsNonRoot" "fsGroupChangePolicy" }}
{{- if not (kindIs "invalid" (index $values $key)) }}{{ $_ := set $context $key (index $values $key) }}{{ end }}
{{- end }}
{{- if $values.supplementalGroups }}
{{- $groups := list }}
{{- range $values.supplementalGroups }}{{ $groups = append $groups (int64 .) }}{{ end }}
{{- $_ := set $context "supplementalGroups" $groups }}
{{- end }}
{{- if kindIs "map" $values.seccompProfile }}
{{- $_ := set $context "seccompProfile" (include "llamafactory.seccompProfile" $values.seccompProfile | fromYaml) }}
{{- end }}
{{- toYaml $context }}
{{- end }}

{{- /* Container security context without unset fields
(LlamaFactoryWorkload._container_security_context). */ -}}
{{- define "llamafactory.containerSecurityContext" -}}
{{- $values := .Values.securityContext }}
{{- $context := dict }}
{{- range $key := list "allowPrivilegeEscalation" "privileged" "readOnlyRootFilesystem" "runAsNonRoot" }}
{{- if not (kindIs "invalid" (index $values $key)) }}{{ $_ := set $context $key (index $values $key) }}{{ end }}
{{- end }}
{{- range $key := list "runAsUser" "runAsGroup" }}
{{- if not (kindIs "invalid" (index $values $key)) }}{{ $_ := set $context $key (index $values $key | int64) }}{{ end }}
{{- end }}
{{- $capabilities := dict }}
{{- with $values.capabilities }}
{{- if .add }}{{ $_ := set $capabilities "add" .add }}{{ end }}
{{- if .drop }}{{ $_ := set $capabilities "drop" .drop }}{{ end }}
{{- end }}
{{- if $capabilities }}{{ $_ := set $context "capabilities" $capabilities }}{{ end }}
{{- if kindIs "map" $values.seccompProfile }}
{{- $_ := set $context "seccompProfile" (include "llamafactory.seccompProfile" $values.seccompProfile | fromYaml) }}
{{- end }}
{{- toYaml $context }}
{{- end }}

{{- define "llamafactory.seccompProfile" -}}
type: {{ .type | default "RuntimeDefault" | quote }}
{{- with .localhostProfile }}
localhostProfile: {{ . | quote }}
{{- end }}
{{- end }}

{{- /* Tolerations of the app's pod (LlamaFactoryWorkload._patch_pod_spec). */ -}}
{{- define "llamafactory.tolerations" -}}
{{- include "llamafactory.tolerationsFor" (list . (include "llamafactory.gpus" . | atoi)) }}
{{- end }}

{{- /* Tolerations, with the GPU toleration added when the pod requests GPUs and no
toleration names their key. Call with (list $ gpuCount). */ -}}
{{- define "llamafactory.tolerationsFor" -}}
{{- $root := index . 0 }}
{{- $gpus := index . 1 }}
{{- $tolerations := list }}
{{- $gpuTolerated := false }}
{{- range $item := $root.Values.tolerations }}
{{- $toleration := dict }}
{{- range $key := list "key" "operator" "value" "effect" }}
{{- if not (kindIs "invalid" (index $item $key)) }}{{ $_ := set $toleration $key (index $item $key) }}{{ end }}
{{- end }}
{{- if not (kindIs "invalid" (index $item "tolerationSeconds")) }}{{ $_ := set $toleration "tolerationSeconds" (index $item "tolerationSeconds" | int64) }}{{ end }}
{{- if eq (index $item "key" | default "") "@GPU@" }}{{ $gpuTolerated = true }}{{ end }}
{{- $tolerations = append $tolerations $toleration }}
{{- end }}
{{- if and (gt $gpus 0) (not $gpuTolerated) }}
{{- $tolerations = append $tolerations (dict "key" "@GPU@" "operator" "Exists" "effect" "NoSchedule") }}
{{- end }}
{{- if $tolerations }}{{ toYaml $tolerations }}{{ end }}
{{- end }}

{{- /* Pull secrets as [{name: …}]; a plain name is accepted too. */ -}}
{{- define "llamafactory.imagePullSecrets" -}}
{{- range .Values.imagePullSecrets }}
- name: {{ kindIs "string" . | ternary . (get (kindIs "map" . | ternary . dict) "name") | quote }}
{{- end }}
{{- end }}

{{- /* Fail on GPU counts and requests above limits in a resources section
(ResourcesValues._effective). Call with (list section "key of the section"). */ -}}
{{- define "llamafactory.validateResources" -}}
{{- $resources := index . 0 }}
{{- $key := index . 1 }}
{{- $gpuRequest := include "llamafactory.string" (index ($resources.requests | default dict) "@GPU@") }}
{{- $gpuLimit := include "llamafactory.string" (index ($resources.limits | default dict) "@GPU@") }}
{{- range $side, $count := dict "requests" $gpuRequest "limits" $gpuLimit }}
{{- if and $count (not (regexMatch "@GPU_COUNT_PATTERN@" $count)) }}
{{- fail (printf "%s.%s.@GPU@: %q is not a whole number of GPUs from 0 to 9999; set an integer such as 1" $key $side $count) }}
{{- end }}
{{- end }}
{{- if and $gpuRequest $gpuLimit (ne (atoi $gpuRequest) (atoi $gpuLimit)) }}
{{- fail (printf "%s.requests.@GPU@: %s GPUs differs from %s.limits.@GPU@ (%s); Kubernetes requires extended resources to have equal requests and limits, so set both to the same count" $key $gpuRequest $key $gpuLimit) }}
{{- end }}
{{- $effective := include "llamafactory.resourcesOf" $resources | fromYaml }}
{{- range $name, $request := $effective.requests }}
{{- $limit := get $effective.limits $name }}
{{- if and $limit (gt (include "llamafactory.quantityValue" $request | float64) (include "llamafactory.quantityValue" $limit | float64)) }}
{{- fail (printf "%s.requests.%s: %s is above %s.limits.%s (%s); lower the request or raise the limit" $key $name $request $key $name $limit) }}
{{- end }}
{{- end }}
{{- end }}

{{- /* Fail on settings that values.schema.json cannot state; each rule mirrors a
check of the values model (values.py), and names the key and the fix. */ -}}
{{- define "llamafactory.validate" -}}
{{- include "llamafactory.validateResources" (list .Values.resources "resources") }}
{{- include "llamafactory.validateResources" (list .Values.training.resources "training.resources") }}
{{- range $index, $toleration := .Values.tolerations }}
{{- if and (eq (index $toleration "operator" | default "") "Exists") (index $toleration "value") }}
{{- fail (printf "tolerations[%d].value: %q is set with operator Exists; remove value or use operator Equal" $index (index $toleration "value")) }}
{{- end }}
{{- if and (not (index $toleration "key")) (ne (index $toleration "operator" | default "") "Exists") }}
{{- fail (printf "tolerations[%d].operator: an empty key tolerates every taint only with operator Exists; set key or operator: Exists" $index) }}
{{- end }}
{{- if and (not (kindIs "invalid" (index $toleration "tolerationSeconds"))) (ne (index $toleration "effect" | default "") "NoExecute") }}
{{- fail (printf "tolerations[%d].tolerationSeconds: applies only to effect NoExecute; set effect: NoExecute or remove it" $index) }}
{{- end }}
{{- end }}
{{- range $key, $context := dict "podSecurityContext" .Values.podSecurityContext "securityContext" .Values.securityContext }}
{{- with index $context "seccompProfile" }}
{{- if ne (eq (.type | default "RuntimeDefault") "Localhost") (not (empty .localhostProfile)) }}
{{- fail (printf "%s.seccompProfile.localhostProfile: is required with type Localhost and allowed only there" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.securityContext.privileged (not .Values.securityContext.allowPrivilegeEscalation) }}
{{- fail "securityContext.privileged: true needs allowPrivilegeEscalation: true, which Kubernetes requires with it; set both, or leave privileged false" }}
{{- end }}
{{- $host := regexReplaceAll "@PLACEHOLDER_PATTERN@" .Values.ezua.virtualService.endpoint "x" }}
{{- if gt (len $host) 253 }}
{{- fail (printf "ezua.virtualService.endpoint: %q is longer than 253 characters, the limit of a host name; set a shorter name" .Values.ezua.virtualService.endpoint) }}
{{- end }}
{{- $fullname := include "llamafactory.fullname" . }}
{{- if not (regexMatch "@DNS_1035_LABEL_PATTERN@" $fullname) }}
{{- fail (printf "release name %q: objects would be named %q, and Service names must start with a letter and hold only lowercase letters, digits and '-'; choose another release name or set fullnameOverride" .Release.Name $fullname) }}
{{- end }}
{{- if not (regexMatch "@DNS_LABEL_PATTERN@" .Release.Namespace) }}
{{- fail (printf "namespace %q: Kubernetes namespaces hold only lowercase letters, digits and '-'; choose another namespace" .Release.Namespace) }}
{{- end }}
{{- range $key := list "hfCache" "data" "output" "webuiState" }}
{{- $claim := index $.Values.persistence $key }}
{{- if le (include "llamafactory.quantityValue" (include "llamafactory.string" $claim.size) | float64) 0.0 }}
{{- fail (printf "persistence.%s.size: %q is invalid: Kubernetes requires a claim larger than 0; set a size such as '10Gi'" $key (include "llamafactory.string" $claim.size)) }}
{{- end }}
{{- end }}
{{- $port := include "llamafactory.port" . | atoi }}
{{- $target := .Values.service.targetPort }}
{{- if not (kindIs "invalid" $target) }}
{{- if not (or (eq (toString $target) "http") (and (not (kindIs "string" $target)) (eq (int $target) $port))) }}
{{- fail (printf "service.targetPort: %v differs from the %s port (%d); remove service.targetPort and set %s" $target .Values.mode $port (eq .Values.mode "webui" | ternary "gradio.serverPort" "api.port")) }}
{{- end }}
{{- end }}
{{- $names := dict }}
{{- range $index, $variable := .Values.extraEnv }}
{{- if hasKey $names $variable.name }}
{{- fail (printf "extraEnv[%d].name: %s is listed twice; keep one" $index $variable.name) }}
{{- end }}
{{- $_ := set $names $variable.name true }}
{{- end }}
{{- $period := .Values.probes.startup.periodSeconds | int }}
{{- $failures := include "llamafactory.startupFailureThreshold" . | int }}
{{- if lt (mul $period $failures) @STARTUP_FLOOR@ }}
{{- fail (printf "probes.startup.failureThreshold: periodSeconds × failureThreshold = %d × %d s is below the @STARTUP_FLOOR@ s floor; a slow start would be killed, so raise probes.startup.failureThreshold" $period $failures) }}
{{- end }}
{{- if ne (include "llamafactory.webuiStatePath" .) "@WORKING_DIR@" }}
{{- fail "persistence.webuiState.mountPath: must be @WORKING_DIR@, LLaMA Board's working directory, because it writes its state directories (saves/, cache/, config/) relative to it; remove the key" }}
{{- end }}
{{- $nonRoot := .Values.securityContext.runAsNonRoot }}
{{- if kindIs "invalid" $nonRoot }}{{ $nonRoot = .Values.podSecurityContext.runAsNonRoot }}{{ end }}
{{- $user := .Values.securityContext.runAsUser }}
{{- if kindIs "invalid" $user }}{{ $user = .Values.podSecurityContext.runAsUser }}{{ end }}
{{- if and (eq $nonRoot true) (not (kindIs "invalid" $user)) (eq (int $user) 0) }}
{{- fail "podSecurityContext.runAsUser: 0 (root) contradicts runAsNonRoot: true, and the kubelet would refuse to start the container; set a non-zero UID such as 1000" }}
{{- end }}
{{- $state := include "llamafactory.webuiStatePath" . }}
{{- $paths := list (list "persistence.hfCache.mountPath" (include "llamafactory.hfCacheMountPath" .)) (list "persistence.data.mountPath" .Values.persistence.data.mountPath) (list "persistence.output.mountPath" .Values.persistence.output.mountPath) (list "persistence.webuiState.mountPath (saves)" (printf "%s/saves" $state)) (list "persistence.webuiState.mountPath (cache)" (printf "%s/cache" $state)) (list "persistence.webuiState.mountPath (config)" (printf "%s/config" $state)) (list "persistence.webuiState.mountPath (llamaboard_cache)" (printf "%s/llamaboard_cache" $state)) (list "persistence.webuiState.mountPath (llamaboard_config)" (printf "%s/llamaboard_config" $state)) }}
{{- $seen := dict }}
{{- range $entry := $paths }}
{{- $key := index $entry 0 }}
{{- $path := index $entry 1 }}
{{- $normalized := regexReplaceAll "/+$" (regexReplaceAll "/+" $path "/") "" | default "/" }}
{{- if hasKey $seen $normalized }}
{{- fail (printf "%s: %q is also the mount path of %s; give each volume its own path" $key $path (get $seen $normalized)) }}
{{- end }}
{{- if has $normalized (splitList " " "@SYSTEM_PATHS@") }}
{{- fail (printf "%s: %q would hide a system directory or the application in /app; choose another path" $key $path) }}
{{- end }}
{{- $_ := set $seen $normalized $key }}
{{- end }}
{{- if .Values.training.enabled }}
{{- /* Every training problem is collected and reported in one failure, one line
each (Values._training_problems). */ -}}
{{- $problems := list }}
{{- if not .Values.persistence.output.enabled }}
{{- $problems = append $problems "persistence.output.enabled: false while training.enabled is true, so the checkpoints would go to an emptyDir and be lost when the training pod ends; set persistence.output.enabled: true" }}
{{- end }}
{{- $datasetDir := .Values.training.args.datasetDir }}
{{- $datasetDirNormalized := regexReplaceAll "/+$" (regexReplaceAll "/+" $datasetDir "/") "" | default "/" }}
{{- range $entry := list (list "hfCache" (include "llamafactory.hfCacheMountPath" $)) (list "data" $.Values.persistence.data.mountPath) (list "output" $.Values.persistence.output.mountPath) }}
{{- $key := index $entry 0 }}
{{- $mount := regexReplaceAll "/+$" (regexReplaceAll "/+" (index $entry 1) "/") "" | default "/" }}
{{- if and (not (index $.Values.persistence $key).enabled) (or (eq $datasetDirNormalized $mount) (hasPrefix (printf "%s/" $mount) $datasetDirNormalized)) }}
{{- $problems = append $problems (printf "training.args.datasetDir: %q is on persistence.%s, whose enabled is false, so the training pod would find an empty emptyDir there; set persistence.%s.enabled: true or another training.args.datasetDir" $datasetDir $key $key) }}
{{- end }}
{{- end }}
{{- range $index, $variable := .Values.extraEnv }}
{{- if has $variable.name (splitList " " "@TRAINING_ENV@") }}
{{- $problems = append $problems (printf "extraEnv[%d].name: %s is set by the training pods while training.enabled is true; remove it (training.nodes and training.resources decide the torchrun settings)" $index $variable.name) }}
{{- end }}
{{- end }}
{{- $nodes := .Values.training.nodes | int }}
{{- if gt $nodes 1 }}
{{- range $entry := list (list "output" "ReadWriteMany") (list "hfCache" "ReadWriteMany") (list "data" "ReadWriteMany ReadOnlyMany") }}
{{- $key := index $entry 0 }}
{{- $claim := index $.Values.persistence $key }}
{{- if and $claim.enabled (not (has $claim.accessMode (splitList " " (index $entry 1)))) }}
{{- $problems = append $problems (printf "persistence.%s.accessMode: %s cannot be shared by training.nodes: %d, because every training pod mounts this claim and a pod on another node cannot attach it; set persistence.%s.accessMode: ReadWriteMany (with a storage class that supports it) or training.nodes: 1. A claim that exists keeps its access mode: copy its data to a new ReadWriteMany claim and set persistence.%s.existingClaim" $key $claim.accessMode $nodes $key $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $problems }}
{{- fail (join "\n" $problems) }}
{{- end }}
{{- end }}
{{- include "llamafactory.validateLiveClaims" . }}
{{- end }}

{{- /* Fail when the values ask an existing claim for what Kubernetes cannot change,
or when a new full name would leave the release's claims behind. Helm applies objects
one at a time and stops at the first one the API server rejects, so a rejected claim
would leave the Deployment and any training objects already changed. A fail here stops
the render, before Helm sends anything. `lookup` returns an empty map under
`helm template` and a client-side `--dry-run`, so these checks need a cluster.
NOTE: the lookups need get and list on PersistentVolumeClaims in the namespace. */ -}}
{{- define "llamafactory.validateLiveClaims" -}}
{{- $namespace := .Release.Namespace }}
{{- $anyExists := false }}
{{- $creates := false }}
{{- $existingClaims := list }}
{{- range $key, $suffix := dict @CLAIM_SUFFIXES@ }}
{{- $claim := index $.Values.persistence $key }}
{{- $live := lookup "v1" "PersistentVolumeClaim" $namespace (include "llamafactory.objectName" (list $ $suffix)) }}
{{- if $live }}{{ $anyExists = true }}{{ end }}
{{- if $claim.existingClaim }}{{ $existingClaims = append $existingClaims $claim.existingClaim }}{{ end }}
{{- if and $claim.enabled (not $claim.existingClaim) }}
{{- $creates = true }}
{{- if $live }}{{ include "llamafactory.validateLiveClaim" (list $key $claim $live) }}{{ end }}
{{- end }}
{{- end }}
{{- if and .Release.IsUpgrade $creates (not $anyExists) }}
{{- include "llamafactory.validateFullnameKept" (list . $existingClaims) }}
{{- end }}
{{- end }}

{{- /* Fail when a claim the chart would patch exists with another access mode or
storage class, or with a larger request, because Kubernetes rejects each of these
changes. An empty storageClass leaves the class to the cluster, so any class matches
it. Call with (list "values key" claimValues liveClaim). */ -}}
{{- define "llamafactory.validateLiveClaim" -}}
{{- $key := index . 0 }}
{{- $claim := index . 1 }}
{{- $live := index . 2 }}
{{- $name := $live.metadata.name }}
{{- $wayOut := printf "copy the data to a new claim and set persistence.%s.existingClaim" $key }}
{{- $modes := join ", " (dig "spec" "accessModes" list $live) }}
{{- if ne $modes $claim.accessMode }}
{{- fail (printf "persistence.%s.accessMode: the claim %s exists with %s, not %s, and Kubernetes cannot change a claim's access mode; keep %s, or %s" $key $name $modes $claim.accessMode $modes $wayOut) }}
{{- end }}
{{- if $claim.storageClass }}
{{- $requested := eq $claim.storageClass "-" | ternary "" $claim.storageClass }}
{{- $current := dig "spec" "storageClassName" "" $live | default "" }}
{{- if ne $requested $current }}
{{- fail (printf "persistence.%s.storageClass: the claim %s exists with storage class %q, not %q, and Kubernetes cannot change a claim's storage class; keep %q, or %s" $key $name $current $requested ($current | default "-") $wayOut) }}
{{- end }}
{{- end }}
{{- $size := include "llamafactory.string" $claim.size }}
{{- $currentSize := dig "spec" "resources" "requests" "storage" "" $live }}
{{- /* One byte of slack absorbs float rounding of equal quantities written in other
units, such as 1.5Gi and the 1536Mi that the API server returns. */ -}}
{{- if and $currentSize (lt (addf (include "llamafactory.quantityValue" $size | float64) 1.0) (include "llamafactory.quantityValue" $currentSize | float64)) }}
{{- fail (printf "persistence.%s.size: %s is smaller than %s, the request of the existing claim %s, and Kubernetes cannot shrink a claim; set %s or more, or %s" $key $size $currentSize $name $currentSize $wayOut) }}
{{- end }}
{{- end }}

{{- /* Fail on an upgrade that would name the claims differently from the release's
claims in the namespace: new empty claims would replace them, and the old ones, with
the data, would drop out of the release. A claim of the release carries its instance
label, the chart name in part-of and the storage component; the name label is not
used because nameOverride changes it. Claims named in an existingClaim are skipped.
Call with (list $ existingClaimNames). */ -}}
{{- define "llamafactory.validateFullnameKept" -}}
{{- $root := index . 0 }}
{{- $existingClaims := index . 1 }}
{{- $instance := regexReplaceAll "-+$" ($root.Release.Name | trunc 63) "" }}
{{- $oldClaims := list }}
{{- $oldName := "" }}
{{- range $item := (lookup "v1" "PersistentVolumeClaim" $root.Release.Namespace "").items | default list }}
{{- $labels := $item.metadata.labels | default dict }}
{{- if and (eq (get $labels "app.kubernetes.io/instance") $instance) (eq (get $labels "app.kubernetes.io/part-of") $root.Chart.Name) (eq (get $labels "app.kubernetes.io/component") "storage") (not (has $item.metadata.name $existingClaims)) }}
{{- $oldClaims = append $oldClaims $item.metadata.name }}
{{- $oldName = get $labels "app.kubernetes.io/name" }}
{{- end }}
{{- end }}
{{- if $oldClaims }}
{{- $oldClaims = sortAlpha $oldClaims }}
{{- $oldFullname := first $oldClaims }}
{{- range $suffix := values (dict @CLAIM_SUFFIXES@) }}
{{- if hasSuffix (printf "-%s" $suffix) (first $oldClaims) }}{{ $oldFullname = trimSuffix (printf "-%s" $suffix) (first $oldClaims) }}{{ end }}
{{- end }}
{{- $problem := printf "the objects would be named %q, but the release's data is on the claims %s, named after the old full name %q, and the chart would create new empty claims in their place" (include "llamafactory.fullname" $root) (join ", " $oldClaims) $oldFullname }}
{{- if ne $oldName (include "llamafactory.name" $root) }}
{{- /* The name label is in the Deployment's immutable selector, so only the old
name itself is a way out. */ -}}
{{- fail (printf "nameOverride: %s; set nameOverride: %s (the app.kubernetes.io/name label of the old claims, which the Deployment's selector also uses)" $problem $oldName) }}
{{- end }}
{{- fail (printf "fullnameOverride: %s; set fullnameOverride: %s to keep the old names, or name each old claim in persistence.<key>.existingClaim" $problem $oldFullname) }}
{{- end }}
{{- end }}

{{- /* Name of the training objects, "<fullname>-train-<runName>" within
@MAX_JOB_NAME_LENGTH@ characters (training.training_name): the training operator
names pods "<job>-worker-<index>", which must stay a 63-character DNS label. */ -}}
{{- define "llamafactory.trainingName" -}}
{{- $suffix := printf "train-%s" .Values.training.runName }}
{{- $prefix := include "llamafactory.fullname" . | trunc (int (sub @MAX_JOB_NAME_LENGTH@ (add 1 (len $suffix)))) }}
{{- printf "%s-%s" (regexReplaceAll "-+$" $prefix "") $suffix }}
{{- end }}

{{- /* Labels that select the training pods (training.training_selector_labels). The
name differs from the app's, so the app's Service and NetworkPolicy skip them. */ -}}
{{- define "llamafactory.trainingSelectorLabels" -}}
app.kubernetes.io/name: {{ regexReplaceAll "-+$" (printf "%s-@TRAINING_COMPONENT@" (include "llamafactory.name" .) | trunc 63) "" | quote }}
app.kubernetes.io/instance: {{ regexReplaceAll "-+$" (.Release.Name | trunc 63) "" | quote }}
{{- end }}

{{- /* Labels of a training pod: extra labels first, so the chart's own always win
(TrainingRun._pod_labels). */ -}}
{{- define "llamafactory.trainingPodLabels" -}}
{{- $labels := include "llamafactory.labels" . | fromYaml }}
{{- $labels = merge (include "llamafactory.trainingSelectorLabels" . | fromYaml) $labels }}
{{- $_ := set $labels "app.kubernetes.io/component" "@TRAINING_COMPONENT@" }}
{{- $_ = set $labels "hpe-ezua/app" (include "llamafactory.name" .) }}
{{- $_ = set $labels "hpe-ezua/component" "@TRAINING_COMPONENT@" }}
{{- $_ = set $labels "hpe-ezua/type" "@EZUA_TYPE@" }}
{{- toYaml (merge $labels (.Values.podLabels | default dict) (dig "kyverno" "labels" dict .Values.ezua)) }}
{{- end }}

{{- /* "true" when the training pods mount a ReadWriteOnce claim that a running app
pod mounts too (Values.training_shares_read_write_once). */ -}}
{{- define "llamafactory.trainingSharesReadWriteOnce" -}}
{{- $shared := false }}
{{- if ge (int .Values.replicaCount) 1 }}
{{- range $key := list "hfCache" "data" "output" }}
{{- $claim := index $.Values.persistence $key }}
{{- if and $claim.enabled (eq $claim.accessMode "ReadWriteOnce") }}{{ $shared = true }}{{ end }}
{{- end }}
{{- end }}
{{- $shared }}
{{- end }}

{{- /* Affinity of a training pod (training.training_affinity): .Values.affinity, plus
a required podAffinity to the app pod's node when they share a ReadWriteOnce claim. */ -}}
{{- define "llamafactory.trainingAffinity" -}}
{{- $affinity := deepCopy (.Values.affinity | default dict) }}
{{- if eq (include "llamafactory.trainingSharesReadWriteOnce" .) "true" }}
{{- $podAffinity := get $affinity "podAffinity" | default dict }}
{{- $terms := get $podAffinity "requiredDuringSchedulingIgnoredDuringExecution" | default list }}
{{- $term := dict "labelSelector" (dict "matchLabels" (include "llamafactory.selectorLabels" . | fromYaml)) "topologyKey" "@HOSTNAME_TOPOLOGY_KEY@" }}
{{- $_ := set $podAffinity "requiredDuringSchedulingIgnoredDuringExecution" (append $terms $term) }}
{{- $_ = set $affinity "podAffinity" $podAffinity }}
{{- end }}
{{- if $affinity }}{{ toYaml $affinity }}{{ end }}
{{- end }}

{{- /* GPUs of each training node, 0 for none (TrainingValues.gpus_per_node). */ -}}
{{- define "llamafactory.trainingGpus" -}}
{{- include "llamafactory.gpusOf" .Values.training.resources }}
{{- end }}

{{- /* Processes per training node: one per GPU, at least one
(TrainingValues.processes_per_node). */ -}}
{{- define "llamafactory.processesPerNode" -}}
{{- max 1 (include "llamafactory.trainingGpus" . | atoi) }}
{{- end }}

{{- /* "true" when LLaMA Factory must launch torchrun, else empty
(TrainingValues.uses_torchrun). */ -}}
{{- define "llamafactory.usesTorchrun" -}}
{{- if or (gt (.Values.training.nodes | int) 1) (gt (include "llamafactory.trainingGpus" . | atoi) 1) }}true{{ end }}
{{- end }}

{{- /* A value of train.yaml (training.yaml_scalar): strings JSON-quoted, numbers as
Helm prints them with ".0" before a bare exponent, which PyYAML would read as a
string. Numbers from the chart's values.yaml arrive as json.Number. */ -}}
{{- define "llamafactory.yamlScalar" -}}
{{- if kindIs "bool" . }}{{ ternary "true" "false" . }}
{{- else if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) (eq (typeOf .) "json.Number") }}
{{- regexReplaceAll "^(-?[0-9]+)e" (include "llamafactory.string" (float64 .)) "${1}.0e" }}
{{- else }}{{ toJson (toString .) }}
{{- end }}
{{- end }}

{{- /* The train.yaml of the training ConfigMap (training.render_training_config). */ -}}
{{- define "llamafactory.trainingConfig" -}}
{{- $args := .Values.training.args }}
{{- $extra := $args.extraArgs | default dict }}
{{- $output := printf "%s/%s" (regexReplaceAll "/+$" .Values.persistence.output.mountPath "") .Values.training.runName }}
{{- $entries := list (list "model_name_or_path" $args.model) (list "stage" $args.stage) (list "do_train" true) (list "finetuning_type" $args.finetuningType) }}
{{- if eq $args.finetuningType "lora" }}
{{- $entries = append $entries (list "lora_rank" $args.loraRank) }}
{{- $entries = append $entries (list "lora_target" $args.loraTarget) }}
{{- end }}
{{- $entries = append $entries (list "dataset" $args.dataset) }}
{{- $entries = append $entries (list "dataset_dir" $args.datasetDir) }}
{{- if not (kindIs "invalid" $args.template) }}{{ $entries = append $entries (list "template" $args.template) }}{{ end }}
{{- $entries = append $entries (list "cutoff_len" $args.cutoffLen) }}
{{- if not (kindIs "invalid" $args.maxSamples) }}{{ $entries = append $entries (list "max_samples" $args.maxSamples) }}{{ end }}
{{- $entries = append $entries (list "output_dir" $output) }}
{{- $entries = append $entries (list "logging_steps" $args.loggingSteps) }}
{{- $entries = append $entries (list "save_steps" $args.saveSteps) }}
{{- $entries = append $entries (list "per_device_train_batch_size" $args.perDeviceTrainBatchSize) }}
{{- $entries = append $entries (list "gradient_accumulation_steps" $args.gradientAccumulationSteps) }}
{{- $entries = append $entries (list "learning_rate" $args.learningRate) }}
{{- $entries = append $entries (list "num_train_epochs" $args.numTrainEpochs) }}
{{- if not (kindIs "invalid" $args.maxSteps) }}{{ $entries = append $entries (list "max_steps" $args.maxSteps) }}{{ end }}
{{- if ne $args.precision "fp32" }}{{ $entries = append $entries (list $args.precision true) }}{{ end }}
{{- if and (eq (include "llamafactory.trainingGpus" . | atoi) 0) (not (hasKey $extra "use_cpu")) }}{{ $entries = append $entries (list "use_cpu" true) }}{{ end }}
{{- if not (hasKey $extra "report_to") }}{{ $entries = append $entries (list "report_to" "none") }}{{ end }}
{{- range $name, $value := $extra }}{{ $entries = append $entries (list $name $value) }}{{ end }}
{{- print "@CONFIG_HEADER@" }}
{{- range $entry := $entries }}
{{ index $entry 0 }}: {{ include "llamafactory.yamlScalar" (index $entry 1) }}
{{- end }}
{{ end }}
