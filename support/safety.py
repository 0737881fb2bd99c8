"""Signs that a mail tries to instruct the system instead of asking the club (prompt injection).

The model ignores such text by training; the workflow additionally refuses to act on these
tickets without a person's override (OWASP LLM01: the email body is data, never instructions).
Patterns aim at instructions to a machine, not at members' ordinary wording, in English, German,
French and Spanish. They run on normalised text, so that zero-width characters, look-alike letters
from other scripts, full-width or spaced-out letters, leetspeak and base64 do not hide a phrase.
A learned classifier (``model.injection_classifier``, trained by ``python -m
training.injection_detector``) reads the same normalised text and catches phrasings the patterns
do not know; either one flags the mail. Measured by ``python -m benchmarks.injection_detection``,
on a held-out batch neither was written or tuned against.
"""

from __future__ import annotations

import base64
import binascii
import re

from core.text import normalise
from model.injection_classifier import load_injection_classifier
from model.prompt import MAX_HEADER_CHARS, READ_BODY_CHARS

REASON_PREFIX = "mail tries to instruct the system"

# Who a machine-directed instruction addresses: "the AI", "support bot", "KI-System", "l'assistant IA".
_MACHINE = r"""(?:
    (?:(?:automated|automatic|virtual|support|e-?mail|mail|triage|helpdesk|ticket|club|digital|smart|automatique
        |automatico|virtuel|virtuelle|automatisch\w*|virtuelle[rnms]?|digitale[rnms]?|acedesk)[\s-]+){0,2}
    (?:ai|ki|ia|a\.i\.|assistant|assistent\w*|asistente|bot|chat\s?bot|robot|language\s+model|sprachmodell|llm|\w{0,20}gpt
        |model|modell|modele|modelo|agent|helpdesk|classifier|processor|triage\s+(?:model|system|bot)
        |(?<=automatisches\s)system|systeme\s+de\s+tri|sistema\s+automatico
        |auto-?responder|reply\s+(?:generator|drafter|writer)|antwort(?:generator|schreiber|roboter)
        |generateur\s+de\s+reponses?|generador\s+de\s+respuestas?|repondeur|contestador|clasificador|classificateur
        |klassifikator|inteligencia\s+artificial|intelligence\s+artificielle|kunstliche\s+intelligenz
        |artificial\s+intelligence)
    (?:[\s-]+(?:ai|ki|ia|assistant|assistent|system|systeme|sistema|model|modell|agent|bot|automatique|automatico
        |virtual|virtuel))?
)"""
_MACHINE_OR_SYSTEM = rf"""(?:{_MACHINE}|(?:ki-)?systeme?|sistema)
    (?![\s-]*(?:admin|administrator|manager|team|staff|status|wartung|maintenance|update))"""
# What a machine does with the mail, after "the program that ...", "das Programm, das ...", "l'IA qui ...".
_MACHINE_DOES = r"""(?:reads?|process|processes|handles|sorts|drafts|writes|answers|manages|summari[sz]es|triages
    |prepares|generates|lit|trie|traite|redige|gere|resume|repond|prepare|genere|lee|lea|procesa|procese|gestiona
    |ordena|ordene|clasifica|resuma|contesta|escribe|redacta|genera|liest|verarbeitet|(?:vor)?sortiert|bearbeitet
    |beantwortet|zusammenfasst|erstellt|schreibt|formuliert)"""
_DET = r"(?:(?:the|any|an?|all|die|das|den|der|le|la|les|el|los|las|al|au|du|des)\s+|(?:de\s+)?l'\s*)?"
# What follows a role tag in an instruction ("SYSTEM: ignore ..."), unlike "System: iOS 17".
_VERB = r"""(?:ignore|disregard|forget|classify|label|categori[sz]e|set|change|update|cancel|reset|create|delete
    |remove|approve|grant|send|e-?mail|forward|reply|respond|answer|output|print|treat|mark|refund|skip|bypass
    |override|add|make|give|enable|disable|process|route|execute|run|do\s+not|don't|never|always|you\b
    |the\s+(?:assistant|model|ai|bot)|this\s+(?:e-?mail|message|ticket|mail|request)
    |new\s+(?:instruction|rule|task|policy|consigne)|from\s+now\s+on|must
    |ignoriere|vergiss|setze|andere|storniere|losche|sende|schicke|antworte|klassifizier|diese|du\b
    |ignorez|oublie|annule|supprime|envoie|reponds|classe|cet|tu\b|vous\b|approuve|nouvelle
    |ignora|olvida|cancela|borra|envia|responde|clasifica|cambia|este|eres)"""
_ADMIN = r"(?:admin|administrator|administrateur|administrador|superuser|root|sysadmin)"
_SLUGS = r"""(?:add_user|reset_password|cancel_booking|modify_booking|booking_id|member_email|member_name|new_date
    |new_time|new_court)"""

# Ignore / forget the instructions, or skip the checks (en, de, fr, es).
_IGNORE = r"""
    \b(?:ignore|disregard|forget|override|bypass|set\s+aside|discard)\b [^.\n]{0,40}?
        \b(?:previous|prior|above|earlier|preceding|original|initial|existing|all|any|your|the|these|those|system
            |default|usual|standard|current)\b [^.\n]{0,20}?
        \b(?:instructions?|rules|guidelines|directions|directives|prompts?|programming|polic(?:y|ies)|constraints
            |restrictions|guardrails|orders|commands|training)\b
        (?!\s+(?:I|we)\s+(?:gave|sent|left|wrote|had\s+given)\b)
  | \b(?:ignore|disregard|forget)\s+(?:everything|anything|all(?:\s+of)?(?:\s+that)?|whatever)\s+
        (?:you\s+(?:were|'ve\s+been|have\s+been|are)\s+(?:told|given|instructed|programmed)
            |(?:was|has\s+been)\s+(?:said|written)|above|before)
  | \b(?:ignore|disregard|forget|overlook)\s+(?:what|whatever|anything|everything)\b [^.\n]{0,30}
        \b(?:told|said\s+to|gave|instructed|taught|programmed)\s+you\b
  | \b(?:overlook|set\s+aside|put\s+aside|pay\s+no\s+attention\s+to|stop\s+following|no\s+longer\s+follow)\b
        [^.\n]{0,30}? \b(?:guidance|guidelines|instructions?|rules|directions|directives|prompt)\b
  | \b(?:skip|bypass|ignore|disable|override|circumvent|turn\s+off)\b [^.\n]{0,20}
        \b(?:sender|address|identity|security|safety|verification|backend|ownership)\s+(?:checks?|verification
            |validation)\b
  | \b(?:skip|bypass|ignore|disable|waive|circumvent)\s+(?:the\s+)?(?:usual\s+|normal\s+|standard\s+|required\s+)?
        (?:verification|checks?(?!-)|validation|approval|review)\b
  | \bwithout\s+(?:any\s+)?(?:verification|checks|validation)\b
  | \bwithout\s+(?:any\s+)?(?:human|operator|manual)\s+(?:review|approval|checks?)\b
  | \bvergiss\s+alles\b
  | \b(?:ignorier\w*|vergiss|vergessen\s+sie|missacht\w*|ubergeh\w*|umgeh\w*)\b [^.\n]{0,40}?
        \b(?:anweisung\w*|instruktion\w*|regeln|vorgaben|richtlinien|befehle|anordnungen|systemprompt|prompt
            |einschrankungen)\b
  | \b(?:deine|ihre|eure|alle|samtliche|bisherigen|vorherigen|obigen)\s+(?:\w+\s+)?(?:anweisungen|regeln|vorgaben
        |richtlinien|instruktionen)\b [^.\n]{0,30}? \b(?:zu\s+)?(?:ignorieren|vergessen|missachten|ubergehen)\b
  | \bwas\s+man\s+dir\s+(?:\w+\s+)?(?:gesagt|befohlen|aufgetragen)\b
  | \bohne\s+(?:prufung|uberprufung|kontrolle|ruckfrage|nachfrage|freigabe)\b
  | \bfrag\w*\s+nicht\s+nach\b | \bsin\s+preguntar\s+(?:al?\s+)?(?:operador|humano|nadie|la\s+junta)\b
  | \bsans\s+demander\s+(?:a\s+)?(?:l'operateur|personne|un\s+humain)\b
  | \b(?:regeln|anweisungen|richtlinien|vorgaben)\s+(?:\w+\s+)?au(?:ss|ß)er\s+kraft\b
  | \bals\s+admin\w*\s+(?:freischalt|einricht|eintrag|anleg|hinzufug|fuhr)\w*
  | (?<!j'ai\s)(?<!\bai\s)
        \b(?:ignore[rz]?|ignores|oublie[rz]?|oublies|ne\s+tiens\s+pas\s+compte|ne\s+tenez\s+pas\s+compte
            |ne\s+pas\s+tenir\s+compte|ne\s+pren(?:ds|ez)\s+pas\s+en\s+compte|fai(?:s|tes)\s+abstraction
            |outrepasse[rz]?|contourne[rz]?)\b [^.\n]{0,40}?
        \b(?:instructions?|consignes?|regles|directives|prompt|restrictions|programmation)\b
        (?!\s+(?:que\s+(?:je|j'|nous)|(?:I|we)\s+(?:gave|sent|left|wrote|had\s+given)\b))
  | \bce\s+qu'on\s+(?:t'|vous\s+)a\s+(?:dit|demande|appris)\b
  | \bsans\s+(?:verification|controle|validation)\b
  | \b(?:ignora[dr]?|ignore[ns]?|olvida[dr]?|olvide[ns]?|haz\s+caso\s+omiso|hagan?\s+caso\s+omiso|omite|omitir
        |saltar(?:te|se)?|saltate|no\s+hagas\s+caso)\b [^.\n]{0,40}?
        \b(?:instrucciones|instruccion|reglas|normas|directrices|indicaciones|prompt|restricciones|ordenes)\b
  | \bno\s+(?:tengas|tenga|tomes|tome)\s+en\s+cuenta\b [^.\n]{0,30}
        \b(?:instrucciones|reglas|normas|indicaciones)\b
  | \blo\s+que\s+te\s+(?:dijeron|han\s+dicho|ordenaron)\b
  | \bsin\s+(?:revision|comprobar|verificar|verificacion|control)\b
  | \b(?:olvida|olvidad|oublie[rz]?|forget|ignore|disregard)\s+
        (?:todo\s+lo\s+anterior|tout\s+ce\s+qui\s+precede|everything\s+(?:above|before))\b
"""

# Talking to the machine: "Assistant, ...", "Note to the AI", "Hinweis fur die KI", "Hola bot,".
_ADDRESS = rf"""
    (?:^|[\n\[(<{{>#*|.!?;]|--)[ \t]*
        (?:(?:dear|hey|hi|hello|attention|attn|liebe[rs]?|hallo|cher|chere|querid[oa]|estimad[oa]|hola)\s+)?
        (?:the\s+|die\s+|der\s+|das\s+|le\s+|la\s+|l'|el\s+)?{_MACHINE}\s*(?:[:,]|-\s)
  | \b{_MACHINE}\s*[:,]\s*(?:please\s+|bitte\s+|merci\s+de\s+|por\s+favor,?\s+)?{_VERB}
  | \b(?:hello|hi|hey|dear|attention|achtung|hallo|liebe[rs]?|bonjour|salut|cher|chere|hola|buenas|querid[oa]
        |estimad[oa])[\s,]+{_DET}{_MACHINE}\s*[!,:]
  | \b(?:note|message|instructions?|directive|command|reminder|memo|p\.?\s?s\.?|hinweis|nachricht|anweisung|notiz
        |consignes?|nota|mensaje|instruccion(?:es)?|aviso)\s+(?:to|for|an|fur|pour|a|au|para|al)\s+
        {_DET}{_MACHINE_OR_SYSTEM}
  | \b(?:to|for|an|fur|pour|para|al|au)\s+{_DET}{_MACHINE_OR_SYSTEM}[^.\n:!?]{{0,40}}?:
  | \b(?:a\s+l'attention\s+(?:de|du|des)\s+|an\s+(?:das|den|die)\s+|para\s+(?:el|la)\s+|to\s+the\s+|for\s+the\s+)
        (?:l'|la\s+|le\s+)?(?:{_MACHINE}|ki-system)\s*:
  | \b(?:any|an?|the|dear|el|la|le|der|die|das|jede[snr]?|toute?|tout|cualquier|every)\s+(?:\w+\s+){{0,2}}?
        {_MACHINE_OR_SYSTEM}\s*,?\s+
        (?:reading|processing|handling|parsing|triaging|analy[sz]ing|sorting|drafting
            |summari[sz]ing
            |(?:that|which|who|qui|que|der|die|das)\s+(?:\w+\s+){{0,3}}?{_MACHINE_DOES})\b
  | \((?:or\s+)?whatever\) | \b(?:human\s+or\s+(?:machine|ai|bot)|humano\s+o\s+maquina|humain\s+ou\s+machine
        |mensch\s+oder\s+maschine)\b
  | \b(?:program(?:me|ma|m)?|software|script|logiciel|tool|outil|herramienta|helper|auto-?responder)\s*,?\s+
        (?:that|which|qui|que|das|der)\s+(?:\w+\s+){{0,3}}?{_MACHINE_DOES}\b
  | \b(?:para|pour|for|fur|an)\s+(?:quien|celui\s+qui|whoever|wer)\s+(?:procese|process\w*|traite|verarbeitet)\b
  | \b(?:whatever|anything\s+that)\s+(?:\w+\s+)?(?:is\s+)?(?:{_MACHINE_DOES}|processing|reading|sorting|handling
        |summari[sz]ing)\b
  | \b(?:whoever\s+or\s+whatever|quien\s+o\s+lo\s+que|wer\s+oder\s+was|qui\s+ou\s+quoi|human\s+or\s+not)\b
  | \b(?:whoever|wer\s+auch\s+immer|quienquiera\s+que|qui\s+que\s+ce\s+soit\s+qui)\s+(?:\w+\s+){{0,3}}?
        (?:automatic\w*|automatisch\w*|automatiquement|automaticamente)\b
  | \b(?:automatische[nr]?\s+(?:bearbeitung|verarbeitung|sortierung)|traitement\s+automatique|tri\s+automatique
        |procesamiento\s+automatico|clasificacion\s+automatica|automatisierte[nr]?\s+system\w*
        |systemes?\s+automatises?|sistemas?\s+automatizados?|(?:sortier|antwort|klassifizierungs)(?:modell|system
            |assistent)|(?:e-?)?mail-?verarbeitung|verarbeitungssystem|systeme\s+de\s+traitement
        |sistema\s+de\s+procesamiento|classification\s+automatique|(?:automated|automatic|automatische[nr]?
            |automatique|automatico)\s+(?:system|systeme|sistema))\b
  | \b(?:for|fur|pour|para|to)\s+(?:the\s+|den\s+|die\s+|le\s+|la\s+|el\s+)?
        (?:reply\s+(?:generator|drafter|writer|bot)|auto-?responder|antwort(?:entwurf|generator|assistent)
            |sortierung|tri\s+automatique|brouillon\s+de\s+(?:la\s+)?reponse|redacteur\s+de\s+reponses
            |borrador\s+de\s+(?:la\s+)?respuesta|clasificacion\s+automatica)\s*[:,]
  | \b(?:info|hinweis|note|precision|apunte|nota|mot)\s+(?:\w+\s+)?(?:fur\s+die\s+sortierung|pour\s+le\s+tri
        |for\s+(?:the\s+)?sort(?:ing|er)|para\s+(?:la\s+)?clasificacion|para\s+quien\s+(?:ordene|clasifique|lea))\b
  | \b(?:helper|assistant|tool|program)\s+(?:that|which)\s+drafts\s+(?:the\s+)?(?:replies|answers|responses)\b
  | \b(?:not|nicht|ne\s+pas|no)\s+(?:\w+\s+){{0,3}}?(?:to|an|a)\s+(?:a|einen|un|una)\s+(?:human|menschen|humain
        |humano|persona)\b
  | \b(?:liebes|dear|cher|querido|estimado|hallo|hello|hey|hi|hola|bonjour)\s+(?:\w+\s+)?(?:system|systeme|sistema)
        \s*[!,:]
  | \bif\s+you(?:'re|\s+are|\s+happen\s+to\s+be)\s+(?:an?\s+)?(?:ai|automated|automatic|machine|bot
        |language\s+model|llm|assistant)\b
  | \b(?:falls|wenn)\s+du\s+(?:eine\s+ki|ein\s+bot|ein\s+sprachmodell)\b
  | \bsi\s+(?:tu\s+es|vous\s+etes)\s+une?\s+(?:ia|robot|assistant)\b
  | \bsi\s+eres\s+una?\s+(?:ia|bot|asistente)\b
  | \b(?:automated|automatic|machine)\s+(?:(?:support|mail|e-?mail|ticket)\s+)?(?:processing|processor|triage
        |handling|agent)\b
  | \b(?:mail|e-?mail|triage|support|ticket|inbox)\s+(?:triage\s+)?(?:tool|pipeline|processor|filter|parser
        |classifier|automation|agent|bot)\s+(?:should|must|will|shall|needs?\s+to|has\s+to)\b
  | \b(?:model|ai|assistant|system|bot|ki|ia|modelo|modele|modell)\s+(?:instructions?|note|directive|command
        |anweisung|hinweis|consigne|instruccion|nota)\s*:
"""

# Role tags, chat-template tokens, fake JSON and section markers.
_FAKE_BLOCKS = rf"""
    (?:^|[\n\[(<{{#*|]|\.\s)[ \t]*\[?
        (?:system|sys|systeme|sistema|developer|admin|administrator|root|operator|assistant)
        (?:[ _-]?(?:note|notice|message|instructions?|override|prompt|command|update|alert|directive|hinweis
            |nachricht|mitteilung|anweisung|meldung|consigne|instruccion|nota|aviso|mensaje))?
        (?:\s+(?:to|for)\s+(?:the\s+)?\w+(?:\s+\w+)?)?\s*\]?\s*:\s*\W*{_VERB}
  | (?-i:\b(?:SYSTEM|SYSTEME|SISTEMA|ADMIN|DEVELOPER|ROOT)(?:\s+[A-Z]+){{0,4}}\s*\]?\s*:)\s*\W*{_VERB}
  | \bsystem(?:hinweis|nachricht|anweisung|meldung|mitteilung)\b
  | \[\[?\s*(?:admin|root|sys|operator|developer|sudo)\s*\]\]?
  | \[\[?\s*system\s*\]\]?\s*\W*{_VERB}
  | \[\s*/\s*(?:system|sys|admin|instructions?|inst)\b[^\]\n]{{0,25}}\]
  | \[\s*system\s+(?:notice|message|note|prompt|instructions?|override|alert|update|hinweis|nachricht|consigne
        |mensaje|aviso)\b
  | \[\s*(?:assistant|assistent|asistente|ai|ki|ia|bot|model)\s+(?:instructions?|note|directive|command|hinweis
        |anweisung|consigne|instruccion|nota)\s*\]
  | \[[^\]\n]{{0,30}}\b(?:pour|for|fur|para|an)\s+(?:l'|the\s+|den\s+|die\s+|el\s+|la\s+)?(?:assistant|assistent
        |asistente|ai|ki|ia|bot|model|modell|modelo)\s*\]
  | \b(?:prevaut|prevalece|takes\s+precedence|hat\s+vorrang|supersedes?)\s+(?:sur|sobre|over|vor)\s+(?:toutes\s+)?
        (?:vos|tus|sus|your|ihre|deine|all|alle|les|las|los)\b
  | <\|?(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|?> | \[/?inst\] | <</?sys>>
  | </?(?:system|instructions?|prompt|e-?mail|mail|message|user_input|context)> | <(?:start|end)_of_turn>
  | \#{{2,}}\s*(?:(?:new|updated|neue|aktualisierte|nouvelles?|nuevas)\s+)?(?:system|instructions?|response
        |assistant|anweisungen|instrucciones|consignes|instruccion)\b
  | \bbegin\s+(?:system|new)\s+(?:prompt|instructions)
  | \bend\s+of\s+(?:e-?mail|message|user\s+input|input|document)\b
  | \b(?:start|begin|end)\s+of\s+(?:the\s+)?(?:operator|admin|system|staff|member|user|customer)\s+
        (?:notes?|message|instructions|input|section|prompt)\b
  | ["'](?:category|username|booking_id|member_email|member_name|new_date|new_time|new_court|response|confidence
        |role|action|instructions?|system|content|kategorie|categorie|categoria)["']\s*:
  | \b{_SLUGS}\b
  | \b(?:triage|output|json|response)\s+(?:format|schema|template)\b
  | \b(?:new|updated|revised|real|actual|true|hidden|secret|priority|override|system|admin|developer)\s+
        (?:system\s+)?(?:instructions?|directives?|prompt)\b
        (?:\s+from\s+the\s+(?:operator|admin\w*|system|developer|owner|management))?\s*[:\-]
  | \binstructions?\s+(?:from|by)\s+(?:the\s+)?(?:operator|admin\w*|system|developer|club\s+manager)\b
        [^.\n]{{0,20}}\b(?:to|for)\s+(?:the\s+)?{_MACHINE}
  | \b(?:instruccion|instruction|anweisung|consigne)\w*\s+(?:prioritaria|urgente|prioritaire|systeme|sistema
        |system|du\s+systeme
        |del\s+sistema|del\s+administrador|de\s+l'administrateur|vom\s+administrator)\b
  | \b(?:neue|aktualisierte|geheime|versteckte|wichtige)\s+(?:system)?anweisung(?:en)?\s*:
  | \bnouvelles?\s+consignes?\s*[:,] | \bnuevas\s+instrucciones\s*:
  | \bnew\s+(?:policy|rule|rules|procedure)\s*: | \bnueva\s+orden\b
"""

# Changing the triage: category, fields, the reply and what it claims.
_TRIAGE_CHANGES = r"""
    \b(?:classify|classified|reclassify|label|categori[sz]e|tag|mark|treat|handle|process|route|file|flag|record
        |log|register)\b [^.\n]{0,40}? \bas\s+(?:an?\s+)?["'(]?
        (?:add[_ ]user|reset[_ ]password|cancel[_ ]booking|modify[_ ]booking|other|spam|not\s+spam|safe|benign
            |legitimate|verified|approved|trusted|authori[sz]ed|high\s+confidence)\b
  | \b(?:classify|categori[sz]e|label)\s+(?:this|the|that|these|all)(?:\s+following)?(?:\s+incoming)?\s+
        (?:e-?mails?|messages?|tickets?|mails?|requests?)\s+as\b
        (?!\s+(?:urgent|important|high\s+priority|a\s+complaint))
  | \b(?:do\s+not|don't|never)\s+(?:classify|categori[sz]e|label|triage|flag|quarantine)\s+(?:this|the)\b
  | \b(?:set|change|update|overwrite|replace|put|fill|switch)\s+(?:the\s+|this\s+)?
        (?:category|classification|intent|priority|confidence|(?:\w+\s+)?fields?)\b(?:\s+(?:to|=|of\s+this))
  | \b(?:leave|keep|make|set)\s+(?:all\s+|the\s+){0,3}(?:fields?|response|reply|answer)\s+(?:empty|blank)
  | \b(?:in|within)\s+(?:your|the)\s+(?:reply|response|answer|output)\b,?\s*
        (?:say|tell|write|include|state|mention|confirm|claim|promise|add|put)\b
  | \byour\s+(?:reply|response|answer|output)\s+(?:must|shall|has\s+to|needs\s+to)\b
  | \b(?:respond|reply|answer|output)\s+(?:only\s+)?(?:in|as|with)\s+json\b
  | \bcategory\s+(?:set\s+)?(?:to|=)\s*["']?(?:other|add|reset|cancel|modify)\b
  | \b(?:reply|respond|answer|output|return|print)\b [^.\n]{0,15} \b(?:only|exactly|just)\s+(?:with\s+)?
        (?:the\s+(?:single\s+)?word|["'{]|json|the\s+following|this\s+text)
  | \b(?:reply|respond|answer)\s+(?:with\s+|saying\s+)?["'][^"'\n]{1,30}["']\s+(?:when|once|after|and|if)\b
  | \b(?:write|say|reply|respond|answer|output)\s+(?:back\s+)?(?:with\s+)?the\s+(?:exact\s+)?
        (?:phrase|words?|sentence)\b
  | \b(?:respond|reply|write|answer)\s+(?:back\s+)?to\s+(?:every|all|each)\s+(?:the\s+)?(?:members?|users?
        |customers?)\b
  | \b(?:tell|inform|assure|notify|promise)\s+the\s+(?:member|user|customer|requester|client)s?\b
  | \b(?:state|say|write|claim|confirm|tell|reply|respond|answer|report)\b [^.\n]{0,25}
        \bthat\s+the\s+(?:member|user|customer|account\s+holder)\s+(?:has|is|was|requested|asked|wants)\b
  | \bwhen\s+(?:summari[sz]|process|read|handl|triag|classif|analy[sz])\w*\s+this\s+(?:e-?mail|message|mail
        |ticket)\b
  | \bas\s+if\s+(?:it|the|this|my)\s*(?:request|mail|e-?mail|message)?\s+(?:came|comes|was\s+sent|were\s+sent
        |were|was)\s+from\b
  | \b(?:treat|consider|regard|handle|process)\w*\s+(?:my|this|these|the)\s+(?:messages?|e-?mails?|mails?
        |requests?)\s+as\s+(?:if\s+)?(?:coming|sent|written|being)\s+from\b
  | \bpretend\s+(?:my|this|the)\s+(?:e-?mail|message|mail|request)\s+(?:is|was|comes|came)\s+from\b
  | \bthe\s+(?:text|message|part)\s+(?:above|below)\s+(?:is|was|comes)\s+from\s+the\s+(?:member|user|sender
        |customer)\b
  | \bconsidere[rz]?\s+(?:ce|mon|cet)\s+(?:message|e-?mail|mail|courriel)\s+comme\s+(?:venant|provenant|envoye
        |ecrit)\b
  | \bhaz\s+como\s+(?:que|si)\s+(?:este|el|mi)\s+(?:correo|mensaje|e-?mail)\b
  | \b(?:trata|considera)\w*\s+(?:este|mi|el)\s+(?:correo|mensaje)\s+como\s+(?:si\s+)?(?:viniera|enviado|de)\b
  | \bbehandl\w*\s+(?:diese|meine)\s+(?:mail|nachricht|e-mail)\s+(?:so,?\s+)?als\s+(?:ob|kame|von)\b
  | \b(?:do\s+not|don't|dont|never)\s+ask\s+(?:for\s+)?(?:confirmation|permission|approval
        |the\s+(?:member|sender|user|operator)|a\s+human)\b
  | \b(?:do\s+not|don't|dont|never|without)\s+(?:inform|notify|alert|warn|contact|cc|copy)(?:ing)?\s+(?:the\s+)?
        (?:members?|senders?|users?|customers?|operators?|human|staff|admin\w*|owners?|account\s+holders?|anyone
            |anybody)\b
  | \bwithout\s+(?:asking|seeking)\s+(?:for\s+)?(?:confirmation|permission|approval)\b
  | \b(?:klassifizier\w*|kategorisier\w*|einstuf\w*)\b
  | \b(?:ander\w*|setz\w*|wechsl\w*)\s+(?:die\s+)?kategorie\b | \bkategorie\s+(?:auf|zu)\s
  | \bantworte\w*\s+(?:nur|ausschliesslich|lediglich)\s+mit\b
  | \b(?:antworte|sage|teile|bestatige)\w*\s+(?:dem|den)\s+(?:mitglied|nutzer|benutzer|absender|kunden)\b
  | \b(?:informier\w*|benachrichtig\w*)\s+(?:das|den|die)\s+(?:mitglied|nutzer|benutzer|absender|kunden|betreiber)
        \w*\s+nicht\b
  | \bclass(?:e|ez|er|ifie|ifiez|ifier)\s+(?:cet|ce|cette|le|la|les)\s+(?:e-?mail|mail|courriel|message|ticket
        |demande)s?\s+(?:comme|en)\b
  | \b(?:cambia\w*|pon|pone|establece|modifica\w*|change[rz]?|mets|mettez|modifie[rz]?)\s+(?:la\s+|el\s+)?
        (?:categoria|categorie|category)\b
  | \b(?:reponds|repondez|repondre)\s+(?:uniquement|seulement|juste)\s+(?:par|avec)\b
  | \bdans\s+(?:ta|votre)\s+reponse\b
  | \b(?:confirme[rz]?|dis|dites|reponds|repondez|indique[rz]?)\s+(?:au|a\s+l'|aux)\s*(?:membre|utilisateur
        |expediteur|client)s?\b
  | \bn'informe[sz]?\s+pas\b
  | \bsans\s+(?:demander|attendre)\s+(?:de\s+|la\s+|une\s+)?confirmation\b
  | \bclasific(?:a|ad|ar)\s+(?:este|el|esta|la)\s+(?:correo|mensaje|e-?mail|ticket|solicitud)\s+como\b
  | \bresponde\w*\s+(?:solo|solamente|unicamente)\s+(?:con|diciendo)\b
  | \ben\s+(?:tu|su)\s+respuesta\b
  | \b(?:responde|contesta|di|dile|confirma|indica)\w*\s+al?\s+(?:socio|usuario|miembro|remitente|cliente)\b
  | \bno\s+(?:informes|informe|avises|avise|notifiques|notifique|digas|diga)\s+(?:nada\s+)?(?:al|a\s+la|a\s+los)\s+
        (?:socio|usuario|miembro|remitente|cliente)
  | \bsin\s+(?:pedir|solicitar|esperar)\s+confirmacion\b
"""

# Role play and privileges.
_ROLE_PLAY = rf"""
    \byou\s+are\s+(?:now|no\s+longer|from\s+now\s+on|henceforth)\s+
        (?:(?:an?|the|my)\s+(?:\w+\s+){{0,2}}?(?:ai|assistant|bot|model|admin\w*|system|developer|operator|agent
            |\w*gpt|\w*bot|unrestricted|different|jailbroken|dan)\b
            |\w*gpt\b|\w*bot\b|in\s+(?:\w+\s+)?mode\b|no\s+longer\b|unrestricted|jailbroken)
  | \byou(?:'re|\s+are)\s+(?:the|an?|my)\s+(?:\w+\s+){{0,3}}now\b
  | \b(?:act|behave|respond|operate|function|role-?play)\s+as\s+(?:if\s+you\s+were\s+)?(?:an?|the|my)\s+
        (?:\w+\s+){{0,3}}?(?:admin\w*|system|developer|operator|root|superuser|manager|unrestricted|different|new
            |ai|assistant|bot|model|dan)\b
  | \bpretend\s+(?:to\s+be|you\s+are|you're|that\s+you\s+are|that\s+you're)\b
  | \b(?:let'?s|we\s+will|we'll)\s+(?:play\s+a\s+game|role-?play|play\s+pretend)\b | \brole-?play\b
  | \b(?:imagine|suppose)\s+(?:that\s+)?you\s+(?:are|were)\s+(?:an?|the)\b
  | \byour\s+(?:new\s+)?(?:role|task|job|goal|purpose|persona|mission|instructions?)\s+(?:now\s+)?
        (?:is|are|will\s+be)\b
  | \bfrom\s+now\s+on,?\s+(?:you|your|always|never|act|behave|respond|reply|answer|ignore|treat)\b
  | \b(?:developer|admin|administrator|god|debug|jailbreak|unrestricted|sudo|dan)\s+mode\b
  | \b(?:admin|administrator|system|developer|root|emergency|security|manager|supervisor)[\s-]?override\b
  | \boverride\s+(?:mode|code|protocol|your|its|the\s+(?:rules|system|instructions))\b
  | \bescalat\w*\s+(?:the\s+|my\s+|his\s+|her\s+)?(?:privileges?|permissions?|rights|access)\b
  | \b(?:create|make|set\s+up|open|add|give|grant)\b [^.\n]{{0,30}} \b{_ADMIN}[\s-]?(?:account|user|login|access
        |rights|privileges|role|permissions)\b
  | \b(?:user(?:name)?|login|benutzer(?:name)?|utilisateur|usuario|identifiant|username\s+field)\s*
        (?:is\s+|to\s+|=\s*|:\s*)?["']?{_ADMIN}\d*\b
  | \b(?:bot|assistant|asistente|assistent|ai|robot|ki|ia|you)\b [^.\n]{{0,20}} \b(?:without|with\s+no|ohne|sans
        |sin)\s+(?:any\s+)?(?:rules|restrictions|limits|limitations|filters|guardrails|einschrankungen|regeln
            |filter|regles|filtres|restricciones|reglas|limites|filtros)\b
  | \b(?:gib|gebt|geben|erteil\w*|vergib|vergeben|leg\w*|richte\w*|freischalt\w*|verschaff\w*|mach\w*)\b [^.\n]{{0,40}}
        \badmin(?:istrator)?-?(?:rechte|konto|zugang)\w*
  | \badmin(?:istrator)?-?(?:rechte|konto|zugang)\w* [^.\n]{{0,40}} \b(?:geben|erteilen|vergeben|anlegen|einrichten
        |freischalten|gewahren|verschaffen)\b
  | \bdu\s+bist\s+(?:jetzt|nun|ab\s+sofort|ab\s+jetzt)\s+(?:ein|eine|der|die|das|kein|nicht\s+mehr|im)\b
  | \bab\s+(?:sofort|jetzt)\s+(?:bist|agierst|handelst|antwortest|ignorierst)\s+du\b
  | \btu\s+so,?\s+als\s+(?:ob|warst)\s+du\b | \bstell\s+dir\s+vor,?\s+(?:du\s+bist|dass\s+du)\b
  | \bdeine\s+(?:neue\s+)?(?:rolle|aufgabe)\s+(?:ist|lautet)\b
  | \b(?:cree[rz]?|creer|donne[rz]?|accorde[rz]?|attribue[rz]?|ouvre[rz]?|ajoute[rz]?|active[rz]?)\b [^.\n]{{0,40}}
        \b(?:compte|acces|droits)\s+(?:d'|de\s+l')?admin\w*
  | \btu\s+es\s+(?:maintenant|desormais|a\s+present)\b
  | \bvous\s+etes\s+(?:maintenant|desormais)\s+(?:un|une|l'|le|la)\b
  | \b(?:a\s+partir\s+de\s+maintenant|desormais|dorenavant),?\s+(?:tu|vous)\s+(?:es|etes|agis|agissez|reponds
        |repondez|ignores|ignorez|dois|devez)\b
  | \b(?:agis|agissez)\s+comme\b | \bjoue[sz]?\s+le\s+role\b | \bfai(?:s|tes)\s+semblant\b
  | \bimagine[sz]?\s+que\s+(?:tu\s+es|vous\s+etes)\b
  | \b(?:crea[dr]?|cree|da(?:me|le|d)?|dar(?:me|le)?|concede[dr]?|otorga[dr]?|abre|abrid|asigna[dr]?|activa[dr]?)\b
        [^.\n]{{0,40}} \b(?:acceso|cuenta|permisos|privilegios)\s+de\s+administrador\b
  | \b(?:ahora|desde\s+ahora|a\s+partir\s+de\s+ahora),?\s+(?:eres|sois|actuas|actua|responde|ignora|olvida)\b
  | \bdesde\s+este\s+momento\s+eres\b
  | \b(?:eres|sois)\s+(?:un|una|el|la)\s+(?:\w+\s+)?(?:asistente|bot|ia|robot|modelo|administrador)\b
  | \bactua(?:s|d)?\s+como\s+(?:un|una|el|la|si)\b | \bfinge\s+(?:ser|que)\b | \bimagina\s+que\s+eres\b
  | \b(?:haz|haga)\s+como\s+si\s+(?:fueras|fuera)\b | \bsupon\s+que\s+eres\b
  | \b(?:juega|interpreta)\s+el\s+papel\b
"""

# Acting on everyone's accounts, or handing out secrets.
_MASS_AND_SECRETS = r"""
    \b(?:cancel|delete|remove|reset|disable|deactivate|lock|refund|wipe|erase|suspend|close|approve|modify|change
        |move)\b [^.\n]{0,25}? \b(?:all|every|each)\b(?:\s+of)?(?:\s+the)?\s+(?!my\s|our\s)(?:\w+\s+)?
        (?:accounts?|users?|members?|passwords?|logins?|credentials?|profiles?|tickets?|refunds?|requests?)\b
  | \b(?:cancel|delete|remove|move|modify|change)\b [^.\n]{0,20} \bother\s+(?:members|users|people)'?s?'?\s+
        (?:bookings|reservations)\b
  | \b(?:every|each|all)\s+(?:the\s+)?other\s+members?'?s?'?\s+(?:passwords?|password\s+resets?|accounts?
        |e-?mail\s+addresses|data|details)\b
  | \b(?:all|every|each)\s+(?:bookings|reservations)\s+(?:of|by|from|for|belonging\s+to|made\s+by)\s+
        (?:user\s+|member\s+|account\s+)?(?!my\b|our\b|the\b|this\b|next\b)[a-z]+[_.\d][\w.]*
  | \b(?:bookings|reservations)\s+(?:of|for)\s+(?:all|every|each)\s+(?:members|users|accounts)\b
  | \b(?:all|every|each)\s+(?:members?|users?|accounts?)'?s?\s+(?:bookings|reservations)\b
  | \b(?:send|e-?mail|mail|forward|give|share|list|export|dump|reveal|show|tell|paste|print|post|attach|include
        |provide)\b [^.\n]{0,40}?
        \b(?:passwords|password\s+hash(?:es)?|credentials|api\s+keys?|access\s+tokens?|secrets?|system\s+prompt
            |your\s+(?:instructions|prompt|configuration|rules)|member\s+list
            |list\s+of\s+(?:all\s+)?(?:members|users|accounts)
            |(?:all|every)\s+(?:members?|users?|accounts?)'?s?\s+(?:e-?mail\s+addresses|emails|passwords|data
                |details|phone\s+numbers)
            |(?:the|his|her|their|current|stored|old|existing)\s+password\s+(?:of|for)\s+(?:user|member|account
                |the\s+account)\b)
  | \b(?:send|e-?mail|mail|forward|envia|envie|envoie|envoyez|sende|schicke|schick)\w*\b [^.\n]{0,20}?
        \b(?:password|contrasena|mot\s+de\s+passe|passwort|kennwort)\s+(?:of|de|von|des)\s+
        (?:user\s+|usuario\s+|utilisateur\s+|benutzer\s+|member\s+|socio\s+|membre\s+)?
        (?!(?:the|my|mi|mis|mon|ma|mes|mein\w*|el|la|le|les|du|des|der|die|das|wifi|wi-fi|wlan|club|app|cuenta
            |compte|konto|account|this|este|esta|ce|cette|dies\w*)\b)[a-z][\w.]*
  | \b(?:reset\s+links?|passwords?|credentials)\s+(?:for|of)\s+(?:the\s+)?(?:accounts|users|members)\b
  | \b(?:send|envoie[zr]?|envia[dr]?|sende|schick)\w*\s+(?:\w+\s+){0,2}?(?:liste|list|lista|fichier|datei
        |base\s+de\s+datos)\s+(?:\w+\s+){0,2}?(?:adherents|membres|members|socios|mitglieder|miembros)\b
  | \b(?:list\w*|ubersicht|overview)\s+(?:\w+\s+){0,2}?(?:members|mitglieder|adherents|membres|socios|miembros)\s+
        (?:with|mit|avec|con)\s+(?:\w+\s+){0,2}?(?:e-?mails?|phone\w*|telefon\w*|telephones?|numeros|correos
            |birth\w*|geburts\w*|addresses|adressen|adresses|direcciones)
  | \b(?:not|nicht|no|pas)\s+(?:\w+\s+)?(?:to|an|a)\s+(?:the\s+|die\s+|la\s+|l')?(?:address\s+on\s+file
        |(?:registered|stored)\s+address|hinterlegte\w*\s+adresse|registrierte\w*\s+adresse|direccion\s+registrada
        |adresse\s+enregistree)
  | \bnicht\s+protokollier\w* | \bno\s+quede\s+registro\b | \bwithout\s+(?:logging|a\s+log)\b
  | \b(?:don't|do\s+not)\s+log\s+(?:this|the|it)\b | \bne\s+pas\s+(?:l'|le\s+|la\s+)?(?:enregistrer|journaliser)\b
  | \b(?:stored|saved|gespeichert\w*|hinterlegt\w*|enregistre\w*|guardad\w*|almacenad\w*)\s+(?:\w+[\s-]+){0,2}?
        (?:login\s+details|logins?|credentials|passwords?|zugangsdaten|passw[oa]rt\w*|kennw[oa]rt\w*|identifiants
            |mots?\s+de\s+passe|datos\s+de\s+acceso|contrasenas?|admin\w*)\b
  | \b(?:admin|administrator|administrateur|administrador)-?(?:zugangsdaten|passwort|login|credentials)\b
  | \b(?:identifiants|mots?\s+de\s+passe|codes\s+d'acces|datos\s+de\s+acceso|contrasenas?|credenciales)\s+
        (?:d'|de\s+l'|del\s+|de\s+)?administra\w*
  | \b(?:login\s+details|zugangsdaten|identifiants|datos\s+de\s+acceso|credentials)\s+(?:of|for|des|du|de\s+la
        |del|von|der)\s+(?:the\s+)?(?:admin\w*|office|buro|geschaftsstelle|bureau|secretariat|oficina|secretaria
            |club|vereins?)\b
  | \b(?:password|passwort|mot\s+de\s+passe|contrasena)\s+(?:reset\s+)?(?:link|lien|enlace)?\s*(?:of|for|des|du|de|del
        |fur|von)\s+(?:the\s+)?(?:user|usuario|utilisateur|benutzer)\s+[a-z]+_[\w.]+
  | \bthe\s+(?:member|sender|user)'s\s+(?:current\s+|new\s+|old\s+)?(?:password|credentials|login\s+details)\b
  | \b(?:member|user|customer)s?'?\s+(?:database|db|records)\b
  | \bwhat\s+(?:are|were)\s+your\s+(?:instructions|rules|system\s+prompt)\b
  | \bwhat\s+instructions\s+(?:were\s+you|have\s+you\s+been|did\s+you)\b
  | \b(?:e-?mail-?adressen|passworter|zugangsdaten|telefonnummern|adressen|daten)\s+aller\s+(?:mitglieder
        |benutzer|nutzer)\b
  | \b(?:fur|von)\s+alle[n]?\s+(?:mitglieder|benutzer|nutzer|konten)\b [^.\n]{0,40}?
        \b(?:passwort|loschen|stornieren|sperren)\b
  | \bpasswort\w*\s+(?:aller|von\s+allen|samtlicher)\b
  | \balle[n]?\s+(?:passworter|zugangsdaten|kennworter|konten|benutzerkonten)\b [^.\n]{0,40}?
        \b(?:zurucksetzen|loschen|sperren|senden|schicken|deaktivieren)\b
  | \balle\s+(?:buchungen|reservierungen)\s+(?:von|des)\s+(?!mir\b|uns\b)[a-z]+[_.\d][\w.]*
  | \b(?:supprime|annule|reinitialise|change|bloque)\w*\b [^.\n]{0,30}?
        \btous\s+les\s+(?:comptes|membres|utilisateurs)\b
  | \b(?:mots?\s+de\s+passe|identifiants)\s+(?:de|des)\s+(?:tous|toutes|chaque)\b
  | \b(?:toutes|tous)\s+les\s+(?:reservations|comptes)\s+de\s+(?:l'utilisateur|utilisateur|tous)\b
  | \bliste\s+(?:de|des)\s+(?:tous\s+|toutes\s+)?(?:les\s+)?(?:identifiants|mots\s+de\s+passe|membres
        |utilisateurs|comptes)\b
  | \b(?:borra|elimina|cancela|cambia|restablece|bloquea)\w*\b [^.\n]{0,30}?
        \b(?:todas\s+las\s+cuentas|todos\s+los\s+(?:socios|usuarios)|todas\s+las\s+contrasenas)\b
  | \bla\s+de\s+todos\s+los\s+(?:socios|usuarios)\b
  | \b(?:contrasenas|claves|credenciales|reservas|cuentas)\s+de\s+(?:todos|todas|cada)\s+(?:los\s+|las\s+)?
        (?:socios|usuarios|miembros|cuentas)\b
  | \btodas\s+las\s+reservas\s+de\s+(?:usuario\s+|socio\s+)?[a-z]+[_.\d][\w.]*
"""

# Claimed authority, pre-approval, commands to obey or decode.
_AUTHORITY = r"""
    \b(?:this|the)\s+(?:message|e-?mail|request|instruction|ticket)\s+(?:is|has\s+been|was)\s+(?:pre-?)?
        (?:authori[sz]ed|approved|verified|sanctioned)\s+by\s+(?:the\s+)?(?:admin\w*|management|board
            |club\s+manager|system|it|security)\b
  | \b(?:treat|consider|mark|regard)\s+(?:the\s+)?(?:sender|this\s+(?:sender|user|request|mail|message))\s+as\s+
        (?:verified|trusted|authori[sz]ed|legitimate|the\s+(?:account\s+)?owner)\b
  | \bthe\s+sender\s+(?:is|has\s+been)\s+(?:verified|authenticated|trusted|authori[sz]ed)\b
  | \bpre-?(?:verified|approved|authori[sz]ed|authenticated|cleared)\b
  | \b[a-z]+_[a-z_]+\s*[=:]\s*(?:true|false|on|off|none|null|yes|no)\b
  | \b(?:legitimate|official|authori[sz]ed|valid|verified|genuine)\s+(?:instruction|command|order|directive)\b
  | \b(?:grant|give|assign|elevate|upgrade|promote)\b [^.\n]{0,30} \b(?:staff|admin\w*|elevated|full|root
        |superuser|moderator)\s+(?:permissions|privileges|rights|role|access|status|level)\b
  | \b(?:your|the)\s+(?:safety|injection|content|prompt)\s+(?:filter|check|guard|guardrails?)\b
  | \bwithout\s+flagging\b | \b(?:act\s+it\s+out|do\s+it)\s+for\s+real\b
  | \b(?:trusted|internal|privileged)\s+(?:internal\s+)?(?:request|instruction|command|order)\b
  | \b(?:no\s+longer|don't|do\s+not|doesn't|does\s+not)\s+(?:need|require)s?\s+(?:any\s+)?(?:verification
        |confirmation|approval|checks?|review)\b
  | \b(?:the|an|no|any|without\s+an?)\s+(?:human\s+)?operators?\b(?!\s+of\b)
  | \bauto-?approve\b | \bautomatically\s+approve\b | \b(?:approve|approuve\w*)\s+automati\w*
  | \bapprove\s+(?:this|the|all|every)\s+(?:\w+\s+)?(?:tickets?|requests?|actions?|refunds?)\b
  | \b(?:aprueba|approuve|genehmige)\w*\s+(?:todas|todos|tous|toutes|alle)\b
  | \bconsidere[rz]?\s+l'expediteur\s+comme\b | \bbehandl\w*\s+(?:den|die)\s+absender\w*\s+als\b
  | \bmarca\w*\s+(?:este|el)\s+(?:mensaje|correo)\s+como\b | \btrata\w*\s+al\s+remitente\s+como\b
  | \bsin\s+(?:avisar|informar|notificar|decir\w*)\s+(?:a\s+nadie|al\s+socio|al\s+usuario|a\s+los\s+socios)\b
  | \bsans\s+(?:prevenir|informer|avertir)\s+(?:personne|le\s+membre|l'utilisateur|les\s+membres)\b
  | \bdecode\b [^.\n]{0,30} \b(?:follow|execute|run|obey|apply|do\s+what)\b | \brot13\b
  | \b(?:follow|obey|execute|carry\s+out)\s+(?:the\s+)?(?:translated|hidden|encoded|decoded|embedded|following
        |next|below)\s+(?:instructions?|commands?|text|line|orders)\b
  | \bcounts?\s+as\s+(?:already\s+)?(?:verified|approved|checked|cleared|authori[sz]ed)\b
  | \bcuenta\s+como\s+(?:ya\s+)?(?:verificad|aprobad|revisad|comprobad)\w*
  | \b(?:vaut|compte)\s+comme\s+(?:deja\s+)?(?:verifie|approuve|valide|controle)\w*
  | \bgilt\s+als\s+(?:bereits\s+)?(?:gepruft|verifiziert|genehmigt|freigegeben)\b
  | \bauf\s+die\s+(?:ubliche|normale|sonstige|ganze)\s+(?:prufung|kontrolle|uberprufung|verifizierung)\s+verzicht\w*
  | \b(?:muss|musst|mussen)\s+nicht\s+(?:noch\s+(?:einmal|mal)\s+)?(?:gepruft|kontrolliert|uberpruft|verifiziert)\b
  | \b(?:n'a|n'ont|n'as)\s+(?:plus|pas)\s+besoin\s+d'etre\s+(?:controle|verifie|valide|relu)\w*
  | \bsalt\w*\s+(?:\w+\s+){0,4}?(?:las\s+|los\s+)?(?:comprobaciones|verificaciones|revisiones|controles)\b
  | \b(?:no\s+hace\s+falta|no\s+necesita|sin\s+necesidad\s+de)\s+(?:\w+\s+)?(?:revisar|comprobar|verificar)\w*
  | \bobey\b | \byou\s+must\s+(?:now\s+)?(?:comply|follow|execute|do\s+as)\b | \bexecute(?:-le|-la|-les|z)\b
  | \bexecute\s+(?:ces|cette|les|mes|l')\s*(?:instructions?|consignes?|ordres?|commandes?)\b
"""

# No open-ended repeat: each ``*``, ``+`` and ``{n,}`` above gets a ceiling of _CEILING (the normalised text has
# single spaces; a word or gap inside one phrase is shorter), so a match spans at most a few hundred characters
# and each place in a mail costs a bounded number of steps. Unbounded, a run of "#" or of newlines after
# "SYSTEM:" cost time growing with the square of its length (12,000 "#": 48 s; 10,000 newlines: 220 s).
_CEILING = 40
# One token of a verbose pattern: an escape, a character class, a counted repeat, a comment, a metacharacter,
# the rest.
_TOKEN = re.compile(r"""\\. | \[\^?\]?(?:\\.|[^\]\\])*\] | \{\d*,?\d*\} | \#[^\n]* | [()|*+] | [^\\\[{\#()|*+]+ | \{""",
                    re.VERBOSE | re.DOTALL)


def _bounded(pattern: str) -> str:
    """``pattern`` (verbose syntax) with each ``*``, ``+`` and ``{n,}`` given the ceiling _CEILING."""
    tokens = _TOKEN.findall(pattern)
    if "".join(tokens) != pattern:
        raise ValueError("a pattern the tokenizer cannot read whole")
    for i, token in enumerate(tokens):
        if token in ("*", "+"):
            tokens[i] = f"{{{int(token == '+')},{_CEILING}}}"
        elif token.startswith("{") and token.endswith(",}"):
            tokens[i] = f"{{{token[1:-2]},{max(int(token[1:-2]), _CEILING)}}}"
    return "".join(tokens)


_INJECTION = re.compile(
    "|".join(f"(?:{_bounded(group)})" for group in (_IGNORE, _ADDRESS, _FAKE_BLOCKS, _TRIAGE_CHANGES, _ROLE_PLAY,
                                                    _MASS_AND_SECRETS, _AUTHORITY)),
    re.IGNORECASE | re.MULTILINE | re.VERBOSE,
)

# Spaced-out letters without word gaps join into one long word: look for the key verbs and nouns inside.
# The gap is bounded: unbounded, each "ignor" in one long word scanned to its end (quadratic time).
_SQUASHED = re.compile(r"(?:ignor|disregard|forget|vergiss|oubli|olvid)\w{0,40}?(?:instruction|instruccion|anweisung"
                       r"|consigne|rule|regel|regle|regla|prompt)")
_LEET_WORD = re.compile(r"\b(?=\w*[a-z])(?=\w*\d)\w+\b", re.IGNORECASE)
_LEET = str.maketrans("013457$@", "oieastsa")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


def _views(plain: str) -> list[str]:
    """The normalised text, then variants that undo line wrapping, quoting and leetspeak."""
    unwrapped = re.sub(r"(?m)^[ \t]*(?:>[ \t]?)+", "", plain)
    unwrapped = re.sub(r"(?<!\n)\n(?!\n)", " ", unwrapped)
    return [plain, unwrapped, _LEET_WORD.sub(lambda m: m.group(0).translate(_LEET), unwrapped)]


def _base64_sentences(text: str) -> list[str]:
    """Readable sentences hidden as base64: members never write those, so finding one is itself a sign."""
    sentences = []
    for token in _BASE64.findall(text):
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if decoded.isprintable() and len(decoded.split()) >= 3:
            sentences.append(decoded)
    return sentences


def mail_injection_reason(subject: str | None, body: str | None) -> str | None:
    """``injection_reason`` on the part of a mail the model can read (model/prompt.py cuts it the
    same way before anything else): an instruction further down never reaches the model, and
    reading all of a 5 MB body took minutes for each look at the ticket. The operator still sees
    the whole mail."""
    return injection_reason(f"{(subject or '')[:MAX_HEADER_CHARS]}\n{(body or '')[:READ_BODY_CHARS]}")


def injection_reason(text: str) -> str | None:
    """Why ``text`` looks like an instruction to the system (the passage, or the classifier's score), or None."""
    plain = normalise(text)
    return pattern_reason(text, plain) or classifier_reason(plain)


def classifier_reason(plain: str) -> str | None:
    """The learned classifier's score for the normalised text when it reaches the shipped threshold, or None."""
    detector = load_injection_classifier()
    if (score := detector.score(plain)) >= detector.threshold:
        return f"{REASON_PREFIX} (classifier score {score:.2f})"
    return None


def pattern_reason(text: str, plain: str | None = None) -> str | None:
    """The instruction-like passage the hand-written patterns find in ``text``, or None."""
    plain = normalise(text) if plain is None else plain
    for view in _views(plain):
        if match := _INJECTION.search(view):
            return f"{REASON_PREFIX}: {' '.join(match.group(0).split())[:80]!r}"
    for word in re.findall(r"[^\W\d_]{12,}", plain.lower()):
        if match := _SQUASHED.search(word):
            return f"{REASON_PREFIX}: {match.group(0)[:80]!r}"
    if hidden := _base64_sentences(text):
        return f"{REASON_PREFIX} in base64: {' '.join(hidden[0].split())[:80]!r}"
    return None
