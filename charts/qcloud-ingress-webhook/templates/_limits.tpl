{{/*
--request-memory-budget in bytes: requestMemoryPercent of resources.limits.memory, so the budget
follows the memory limit. Empty (the binary's default applies) without a memory limit or with 0.
*/}}
{{- define "qiw.requestMemoryBudget" -}}
{{- $limit := dig "limits" "memory" "" (.Values.resources | default dict) | toString -}}
{{- $percent := int .Values.requestMemoryPercent -}}
{{- if and $limit (gt $percent 0) -}}
{{- $number := regexFind "^[0-9]+([.][0-9]+)?" $limit -}}
{{- $unit := trimPrefix $number $limit -}}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 -}}
{{- if or (not $number) (not (hasKey $units $unit)) -}}
{{- fail (printf "resources.limits.memory %q: write it like 256Mi, 1Gi or 500M to size --request-memory-budget (or set requestMemoryPercent: 0)" $limit) -}}
{{- end -}}
{{- $bytes := mulf (float64 $number) (float64 (get $units $unit)) -}}
{{- printf "%d" (int64 (floor (divf (mulf $bytes $percent) 100))) -}}
{{- end -}}
{{- end -}}
